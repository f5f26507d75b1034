/**
 * Why an endpoint's host is refused (src/outbound/address-policy.ts), in the API's words. Kept apart from
 * the policy (which needs node:net) so the console can recognise them and say it in the reader's language.
 */
export const BLOCKED_HOST_REASON =
  "a link-local, cloud metadata, multicast or unspecified address, which never receives events";
export const PRIVATE_HOST_REASON =
  "a loopback or private-network address, which receives events only with WEBHOOK_ALLOW_PRIVATE_URLS=true";

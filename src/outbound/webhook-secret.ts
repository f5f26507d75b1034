import { randomBytes } from "node:crypto";

/**
 * A new endpoint signing secret in the Standard Webhooks form: `whsec_` and the base64 of 32 random bytes
 * (the specification asks for 24 to 64). The standardwebhooks library, ours and the receiver's, takes it
 * as it is.
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

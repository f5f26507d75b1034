import { z } from "zod";
import { InvalidInputError } from "./errors";

/**
 * External ids name another backend's customers (src/credits/upsert-customer.ts). They are the caller's
 * strings, so the rule is wide enough for the ids such backends use (database keys, UUIDs, Stripe-style
 * `cus_…`, emails, `tenant:user` or `org|user` pairs) and narrow enough to sit in a URL path segment
 * without escaping and to read unambiguously in logs: 1 to 255 characters, each a letter A–Z or a–z, a
 * digit, or one of `_ - . : @ |`, and not dots alone. Case matters (`Acme` and `acme` are two customers).
 *
 * Dots alone (".", "..") are refused because no URL can carry them as a path segment: every HTTP client
 * (fetch, the typed client, curl) folds `/customers/.` and `/customers/%2E` into the parent path (WHATWG
 * dot segments), so such a customer could never be reached; a 400 naming the rule says so at once.
 */
export const EXTERNAL_ID_MAX_LENGTH = 255;
export const EXTERNAL_ID_PATTERN = /^(?!\.+$)[A-Za-z0-9_\-.:@|]{1,255}$/;

/** The rule in words, for error messages, the OpenAPI document and the README. */
export const EXTERNAL_ID_RULE =
  "1-255 characters, each a letter (A-Z, a-z), a digit, or one of _ - . : @ |, not dots alone; case-sensitive";

export function isExternalId(value: string): boolean {
  return EXTERNAL_ID_PATTERN.test(value);
}

export const externalIdSchema = z
  .string()
  .regex(EXTERNAL_ID_PATTERN, `An external id is ${EXTERNAL_ID_RULE}.`)
  .meta({ description: `The customer's id in your system: ${EXTERNAL_ID_RULE}.` });

/** Refuses an external id outside the rule with 400 `invalid_input`, naming the rule. */
export function assertExternalId(value: string): void {
  if (!isExternalId(value)) {
    throw new InvalidInputError(`Invalid external id: it must be ${EXTERNAL_ID_RULE}.`, {
      field: "externalId",
    });
  }
}

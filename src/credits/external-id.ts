import { z } from "zod";
import { InvalidInputError } from "./errors";

/**
 * External ids name another backend's customers (src/credits/upsert-customer.ts). They are the caller's
 * strings, so the rule is wide enough for the ids such backends use (database keys, UUIDs, Stripe-style
 * `cus_…`, emails, `tenant:user` or `org|user` pairs) and narrow enough to sit in a URL path segment
 * without escaping and to read unambiguously in logs: 1 to 255 characters, each a letter A–Z or a–z, a
 * digit, or one of `_ - . : @ |`. Case matters (`Acme` and `acme` are two customers).
 */
export const EXTERNAL_ID_MAX_LENGTH = 255;
const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9_\-.:@|]{1,255}$/;

/** The rule in words, for error messages, the OpenAPI document and the README. */
export const EXTERNAL_ID_RULE =
  "1-255 characters, each a letter (A-Z, a-z), a digit, or one of _ - . : @ |; case-sensitive";

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

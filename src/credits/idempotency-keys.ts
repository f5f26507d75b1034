import { z } from "zod";

/**
 * Idempotency keys come from two places that share one column per user: callers (integrators' code, the
 * service API's `Idempotency-Key` header) and creditkit itself (a purchase's grant, clawbacks, hold
 * captures, the signup gift, operators' grants, the service API's own ledger keys). Were they one space,
 * a caller who passed `payment_intent:pi_123` to a spend would block that purchase's grant forever.
 * They are kept apart by construction: no key a caller may send can equal a key creditkit writes.
 *
 * - Caller keys: 1-255 characters of letters, digits, `_`, `-`, `:` and `.` (the same limit on every route
 *   and every library function, checked on what the caller sent, before anything is added to it).
 * - Internal keys start with `creditkit/`, and `/` is not in the callers' alphabet. Their length is not
 *   limited to 255, because some wrap a caller's key (`creditkit/api:<key id>:<caller key>`).
 * - Two forms written inside the database functions (src/credits/sql/) are reserved as
 *   well, so callers are refused them: keys starting with `expire:` (one per expired lot) and keys ending
 *   with `:debt-repayment` (the repayment entry of the grant whose key precedes the suffix).
 */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
export const INTERNAL_KEY_PREFIX = "creditkit/";
const CALLER_KEY_PATTERN = /^[A-Za-z0-9_\-:.]{1,255}$/;
const RESERVED_PREFIX = "expire:";
const RESERVED_SUFFIX = ":debt-repayment";
/** Internal keys wrap at most a caller key and a few ids; the bound only stops runaway strings. */
const INTERNAL_KEY_MAX_LENGTH = 1024;

export const CALLER_KEY_RULE =
  "1-255 letters, digits, '-', '_', ':' or '.', not starting with 'expire:' and not ending with ':debt-repayment'";

/** True for a key a caller may send. */
export function isCallerIdempotencyKey(key: string): boolean {
  return CALLER_KEY_PATTERN.test(key) && !key.startsWith(RESERVED_PREFIX) && !key.endsWith(RESERVED_SUFFIX);
}

// Symbol.for: the server loads the route files in a second module graph (scripts/server.mjs), so the mark
// must be recognised across copies of this module, which a class and `instanceof` would not be.
const INTERNAL = Symbol.for("creditkit.internalIdempotencyKey");

/** A key in creditkit's own namespace. Made only by internalKey(); a plain string is always a caller key. */
export type InternalKey = { readonly [INTERNAL]: true; readonly value: string };

/**
 * The key of one step creditkit takes, e.g. `internalKey("payment_intent", paymentIntentId)` →
 * `creditkit/payment_intent:pi_123`. Name the step (the event, the purchase's sequence number, the hold),
 * never a state: a state can come round again with other parameters, a step cannot.
 */
export function internalKey(kind: string, ...parts: readonly (string | number)[]): InternalKey {
  const value = `${INTERNAL_KEY_PREFIX}${[kind, ...parts].join(":")}`;
  if (value.length > INTERNAL_KEY_MAX_LENGTH) throw new Error(`internal idempotency key too long: ${kind}`);
  return Object.freeze({ [INTERNAL]: true as const, value });
}

export function isInternalKey(value: unknown): value is InternalKey {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[INTERNAL] === true &&
    typeof (value as { value?: unknown }).value === "string"
  );
}

/** The stored form of either kind of key. */
export function keyValue(key: string | InternalKey): string {
  return typeof key === "string" ? key : key.value;
}

export const callerIdempotencyKeySchema = z
  .string()
  .refine(isCallerIdempotencyKey, { message: `an idempotency key is ${CALLER_KEY_RULE}` });

/** What the ledger's operations accept: a caller's key (checked) or an internal key (made by internalKey). */
export const idempotencyKeySchema = z
  .custom<string | InternalKey>(
    (value) => (typeof value === "string" ? isCallerIdempotencyKey(value) : isInternalKey(value)),
    { message: `an idempotency key is ${CALLER_KEY_RULE}` },
  )
  .transform(keyValue);

import { CreditsError } from "@/credits/errors";
import { sqlStateOf } from "@/credits/sql-rows";
import { logger } from "@/lib/logger";
import { jsonResponse } from "./json-response";

export type ErrorBody = { error: { code: string; message: string; retryable?: boolean } };

export function jsonError(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  return jsonResponse({ error: { code, message, ...extra } } satisfies ErrorBody, { status });
}

const STATUS_BY_CODE: Record<string, number> = {
  invalid_input: 400,
  idempotency_key_required: 400,
  insufficient_credits: 402,
  hold_not_open: 409,
  malformed_json: 400,
  invalid_card: 400,
  invalid_signature: 400,
  package_unavailable: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  idempotency_error: 400,
  payment_intent_unexpected_state: 409,
  refund_not_possible: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  payment_provider_unavailable: 502,
  client_closed_request: 499,
  database_unavailable: 503,
  database_busy: 503,
};

const RETRYABLE = new Set([
  "payment_provider_unavailable",
  "database_unavailable",
  "database_busy",
  "rate_limited",
]);

/**
 * The client went away before its request was read (Node's "aborted" ECONNRESET on the incoming body). Checked before the database signals: the same ECONNRESET code on a *database*
 * socket means an outage, on the client's socket it means nothing is wrong here.
 */
function isClientDisconnect(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    // Node's http server, and @hono/node-server reading a body whose client left.
    if (
      (message === "aborted" && code === "ECONNRESET") ||
      message === "Client connection prematurely closed."
    )
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

const INPUT_NOT_STORABLE: ClassifiedError = {
  status: 400,
  code: "invalid_input",
  message: "The request contains a value the database cannot store (such as U+0000 in a text).",
  retryable: false,
};
const DATABASE_BUSY: ClassifiedError = {
  status: 503,
  code: "database_busy",
  message: "The service is busy. Please retry.",
  retryable: true,
};
const DATABASE_UNAVAILABLE: ClassifiedError = {
  status: 503,
  code: "database_unavailable",
  message: "The database is unavailable. Please retry.",
  retryable: true,
};
const INTERNAL_ERROR: ClassifiedError = {
  status: 500,
  code: "internal_error",
  message: "Something went wrong on our side.",
  // An unknown failure is not known to pass on a retry: a client told to retry an input that fails
  // deterministically retries forever. Transient conditions have their own 503 codes below.
  retryable: false,
};

/**
 * What a database error means for the client, by SQLSTATE (never by message text, which changes between
 * versions and locales: https://www.postgresql.org/docs/current/errcodes-appendix.html).
 *
 * - A value the caller sent that PostgreSQL cannot take (a NUL in a text, an over-long string, a number
 *   or date out of range, a malformed uuid): 400 invalid_input, not retryable. Request validation refuses
 *   these first; this is the backstop for any path that misses one.
 * - Waits and conflicts that a retry resolves (serialization failure, deadlock, lock or statement
 *   timeout): 503 database_busy, retryable.
 * - The database unreachable, shutting down or out of connections: 503 database_unavailable, retryable.
 * - Anything else, including a CHECK constraint (23514: the ledger's own invariants such as
 *   `balance >= 0`, which validated input never reaches, so a violation is our fault): undefined, i.e.
 *   500 internal_error, not retryable.
 */
export function classifyDatabaseError(sqlState: string): ClassifiedError | undefined {
  switch (sqlState) {
    case "22001": // string_data_right_truncation
    case "22003": // numeric_value_out_of_range
    case "22007": // invalid_datetime_format
    case "22008": // datetime_field_overflow
    case "22021": // character_not_in_repertoire (U+0000 in text)
    case "22P02": // invalid_text_representation
    case "22P05": // untranslatable_character (\u0000 in jsonb)
      return INPUT_NOT_STORABLE;
    case "40001": // serialization_failure
    case "40P01": // deadlock_detected
    case "55P03": // lock_not_available (lock_timeout)
    case "57014": // query_canceled (statement_timeout)
      return DATABASE_BUSY;
  }
  // 08: connection exception; 53: insufficient resources (too many connections, out of memory, disk
  // full); 57P01-57P05: admin or crash shutdown, cannot connect now, idle session timeout.
  if (/^(08|53|57P0)/.test(sqlState)) return DATABASE_UNAVAILABLE;
  return undefined;
}

/**
 * The database could not be reached: a DatabaseUnavailableError from the driver's boundary
 * (src/db/connect.ts; by its literal code, as another copy of that module may have made it), or a Node.js
 * socket error code on the way. Failures that PostgreSQL answered carry a SQLSTATE and are classified by it.
 */
function isDatabaseUnreachable(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === "object" && !seen.has(current); ) {
    seen.add(current);
    const { code } = current as { code?: unknown };
    if (code === "database_unavailable") return true;
    if (typeof code === "string" && ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(code)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The app's own failure (a CreditsError) recognised by its literal `code`, not by `instanceof`: `npm start`
 * loads the service routes as a second copy of these modules beside Next.js's bundle (scripts/server.mjs),
 * and what one copy throws from a shared object (the rate limiters on globalThis, src/limits/rate-limit.ts)
 * is an instance of the other copy's class. A class check failed there and a 429 became a 500.
 * Recognised: an instance of this copy's CreditsError, or any error carrying one of the codes of
 * STATUS_BY_CODE together with CreditsError's `context` object (database errors carry SQLSTATEs and Node's
 * socket errors E… codes, never these).
 */
export function codedError(error: unknown): { code: string; message: string } | undefined {
  if (error instanceof CreditsError) return { code: error.code, message: error.message };
  if (!error || typeof error !== "object") return undefined;
  const { code, message, context } = error as { code?: unknown; message?: unknown; context?: unknown };
  if (typeof code !== "string" || !Object.hasOwn(STATUS_BY_CODE, code)) return undefined;
  if (!context || typeof context !== "object" || typeof message !== "string") return undefined;
  return { code, message };
}

export type ClassifiedError = { status: number; code: string; message: string; retryable: boolean };

/**
 * One mapping from failures to what a client sees, used by every route handler and server action.
 * Every deterministic refusal is a 4xx with a code and not retryable; `retryable: true` only where a
 * retry of the same request can succeed (503s, 502 from the payment provider, 429).
 */
export function classifyError(error: unknown): ClassifiedError {
  const coded = codedError(error);
  if (coded) {
    const status = STATUS_BY_CODE[coded.code] ?? 400;
    return { status, code: coded.code, message: coded.message, retryable: RETRYABLE.has(coded.code) };
  }
  if (isClientDisconnect(error)) {
    // 499 as nginx logs it: nobody receives this answer, and the operator needs no alert for it.
    return {
      status: 499,
      code: "client_closed_request",
      message: "The client closed the connection before the request was read.",
      retryable: true,
    };
  }
  const sqlState = sqlStateOf(error);
  const classified = sqlState ? classifyDatabaseError(sqlState) : undefined;
  if (classified) return classified;
  if (!sqlState && isDatabaseUnreachable(error)) return DATABASE_UNAVAILABLE;
  return INTERNAL_ERROR;
}

/**
 * How long a client should wait before retrying a 503, sent as `Retry-After` (RFC 9110 §10.2.3) as the
 * service API's document says: a lock or serialization conflict clears in about a second; an unreachable
 * database takes longer to come back, and a shorter hint would only add load while it recovers.
 */
const RETRY_AFTER_SECONDS: Record<string, number> = { database_busy: 1, database_unavailable: 5 };

export function errorResponse(error: unknown, context: Record<string, unknown> = {}): Response {
  const classified = classifyError(error);
  const ownRetryAfter =
    error && typeof error === "object"
      ? (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
      : undefined;
  const retryAfter = typeof ownRetryAfter === "number" ? ownRetryAfter : RETRY_AFTER_SECONDS[classified.code];
  if (classified.code === "client_closed_request")
    logger.info({ ...context, code: classified.code }, "client closed the connection");
  else if (classified.status >= 500)
    logger.error({ ...context, err: error, code: classified.code }, "request failed");
  else logger.info({ ...context, code: classified.code, reason: classified.message }, "request refused");
  const response = jsonError(
    classified.status,
    classified.code,
    classified.message,
    classified.retryable ? { retryable: true } : {},
  );
  if (typeof retryAfter === "number") response.headers.set("retry-after", String(retryAfter));
  return response;
}

/**
 * The HTTP answer to an expected refusal that a use case returned rather than threw (`{ok: false, reason,
 * ...}`, e.g. a MeteredResult short of credits): the status of `reason` in the same table as the thrown
 * errors' codes (insufficient_credits → 402), the reason as the error's `code`, and the outcome's other
 * fields (such as `cost` and `available`) beside it in the body, so clients read refusals and failures
 * from one shape.
 */
export function refusalResponse(refusal: Refusal, message: string): Response {
  const { status, body } = refusalAnswer(refusal, message);
  return jsonResponse(body, { status });
}

/** A refusal returned by a use case: why (a code of STATUS_BY_CODE), and what the client may act on. */
export type Refusal = { ok: false; reason: string } & Record<string, unknown>;

/**
 * refusalResponse's status and body, for the service API's mutations, whose answers are stored with their
 * Idempotency-Key and replayed (src/service-api/run-idempotent.ts) rather than sent at once.
 */
export function refusalAnswer(
  { ok: _ok, reason, ...details }: Refusal,
  message: string,
): { status: number; body: ErrorBody } {
  return { status: STATUS_BY_CODE[reason] ?? 400, body: { error: { code: reason, message, ...details } } };
}

import { CreditsError } from "./errors";
import { sqlStateOf } from "./sql-rows";

/**
 * Every code a failure of the app can carry. src/server/http-errors.ts gives each its HTTP status (a table
 * typed by this list, so a new code cannot go without one).
 */
export const FAILURE_CODES = [
  "invalid_input",
  "idempotency_key_required",
  "insufficient_credits",
  "hold_not_open",
  "malformed_json",
  "invalid_card",
  "card_declined",
  "authentication_required",
  "invalid_signature",
  "package_unavailable",
  "plan_unavailable",
  "subscription_exists",
  "subscription_not_advanceable",
  "subscription_not_changeable",
  "plan_unchanged",
  "card_required",
  "setup_incomplete",
  "billing_portal_unavailable",
  "unauthorized",
  "forbidden",
  "not_found",
  "customer_not_found",
  "idempotency_conflict",
  "idempotency_error",
  "payment_intent_unexpected_state",
  "refund_not_possible",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "payment_provider_unavailable",
  "client_closed_request",
  "database_unavailable",
  "database_busy",
  "internal_error",
] as const;

export type FailureCode = (typeof FAILURE_CODES)[number];
const KNOWN_CODES: ReadonlySet<string> = new Set(FAILURE_CODES);

const RETRYABLE: ReadonlySet<string> = new Set([
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

const INPUT_NOT_STORABLE: Failure = {
  code: "invalid_input",
  message: "The request contains a value the database cannot store (such as U+0000 in a text).",
  retryable: false,
};
const DATABASE_BUSY: Failure = {
  code: "database_busy",
  message: "The service is busy. Please retry.",
  retryable: true,
};
const DATABASE_UNAVAILABLE: Failure = {
  code: "database_unavailable",
  message: "The database is unavailable. Please retry.",
  retryable: true,
};
const INTERNAL_ERROR: Failure = {
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
function classifyDatabaseError(sqlState: string): Failure | undefined {
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
 * Recognised: an instance of this copy's CreditsError, or any error carrying one of FAILURE_CODES
 * together with CreditsError's `context` object (database errors carry SQLSTATEs and Node's
 * socket errors E… codes, never these).
 */
export function codedError(error: unknown): { code: string; message: string } | undefined {
  if (error instanceof CreditsError) return { code: error.code, message: error.message };
  if (!error || typeof error !== "object") return undefined;
  const { code, message, context } = error as { code?: unknown; message?: unknown; context?: unknown };
  if (typeof code !== "string" || !KNOWN_CODES.has(code)) return undefined;
  if (!context || typeof context !== "object" || typeof message !== "string") return undefined;
  return { code, message };
}

/** A failure as the app names it: its code, the message for people, and whether a retry can succeed. */
export type Failure = { code: FailureCode; message: string; retryable: boolean };

/**
 * One classification of failures, for every caller (the HTTP mapping in src/server/http-errors.ts, the
 * server actions, the record of a failed webhook): by the app's literal codes, SQLSTATEs and Node's socket
 * error codes, never by message text. Every deterministic refusal is not retryable; `retryable: true` only
 * where a retry of the same request can succeed (a busy or unreachable database, the payment provider, a
 * rate limit).
 */
export function classifyFailure(error: unknown): Failure {
  const coded = codedError(error);
  if (coded) {
    const code = coded.code as FailureCode;
    return { code, message: coded.message, retryable: RETRYABLE.has(code) };
  }
  if (isClientDisconnect(error)) {
    return {
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

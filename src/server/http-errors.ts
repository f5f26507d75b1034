import { CreditsError } from "@/credits/errors";
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

/** PostgreSQL / driver signals that the database is down or unreachable (as opposed to a bug). */
function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (
      typeof code === "string" &&
      (/^(08|57P0)/.test(code) || ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(code))
    ) {
      return true;
    }
    if (
      typeof message === "string" &&
      /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|not queryable|Client was closed|Query read timeout/i.test(
        message,
      )
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Lock or statement timeouts: the request waited too long for another one and may be retried. */
function isDatabaseBusy(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const { code } = current as { code?: unknown };
    if (code === "55P03" || code === "57014" || code === "40001" || code === "40P01") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export type ClassifiedError = { status: number; code: string; message: string; retryable: boolean };

/** One mapping from failures to what a client sees, used by every route handler and server action. */
export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof CreditsError) {
    const status = STATUS_BY_CODE[error.code] ?? 400;
    return { status, code: error.code, message: error.message, retryable: RETRYABLE.has(error.code) };
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
  if (isDatabaseBusy(error)) {
    return {
      status: 503,
      code: "database_busy",
      message: "The service is busy. Please retry.",
      retryable: true,
    };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      status: 503,
      code: "database_unavailable",
      message: "The database is unavailable. Please retry.",
      retryable: true,
    };
  }
  return {
    status: 500,
    code: "internal_error",
    message: "Something went wrong on our side.",
    retryable: true,
  };
}

export function errorResponse(error: unknown, context: Record<string, unknown> = {}): Response {
  const classified = classifyError(error);
  const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
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

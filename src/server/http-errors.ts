import { classifyFailure, type Failure, type FailureCode } from "@/credits/failures";
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

/** The HTTP status of each failure code (src/credits/failures.ts names them). */
const STATUS_BY_CODE: Record<FailureCode, number> = {
  invalid_input: 400,
  idempotency_key_required: 400,
  insufficient_credits: 402,
  hold_not_open: 409,
  malformed_json: 400,
  invalid_card: 400,
  // The card was refused when it was to be kept on file; nothing changed (the old card stays).
  card_declined: 402,
  // A payment the bank wants the cardholder to authenticate; nothing changed (a plan change not applied).
  authentication_required: 402,
  invalid_signature: 400,
  package_unavailable: 400,
  plan_unavailable: 400,
  subscription_exists: 409,
  subscription_not_advanceable: 409,
  subscription_not_changeable: 409,
  // The plan asked for is the one in force: nothing to change.
  plan_unchanged: 409,
  // Auto top-up cannot be enabled without a card saved through a SetupIntent.
  card_required: 409,
  // The SetupIntent named has not succeeded (not confirmed yet, or declined): no card to save.
  setup_incomplete: 409,
  // Not implemented for the active payment provider: no retry will help until the server is upgraded.
  billing_portal_unavailable: 501,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  customer_not_found: 404,
  idempotency_conflict: 409,
  idempotency_error: 400,
  payment_intent_unexpected_state: 409,
  refund_not_possible: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  payment_provider_unavailable: 502,
  // 499 as nginx logs it: nobody receives this answer, and the operator needs no alert for it.
  client_closed_request: 499,
  database_unavailable: 503,
  database_busy: 503,
  internal_error: 500,
};

export type ClassifiedError = Failure & { status: number };

/**
 * One mapping from failures to what a client sees, used by every route handler and server action: the
 * failure's classification (classifyFailure, src/credits/failures.ts) and its code's HTTP status.
 */
export function classifyError(error: unknown): ClassifiedError {
  const failure = classifyFailure(error);
  return { ...failure, status: STATUS_BY_CODE[failure.code] };
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
  return {
    status: STATUS_BY_CODE[reason as FailureCode] ?? 400,
    body: { error: { code: reason, message, ...details } },
  };
}

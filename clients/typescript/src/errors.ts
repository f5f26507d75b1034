import type { components } from "./generated/openapi.js";

/**
 * The error codes the service API answers with (`{error: {code, message}}`), for code to branch on. Other
 * codes may appear as the API grows, so `code` is typed as any string beside these.
 */
export type CreditkitErrorCode =
  | "invalid_input"
  | "malformed_json"
  | "idempotency_key_required"
  | "unauthorized"
  | "insufficient_credits"
  | "insufficient_scope"
  | "not_found"
  | "customer_not_found"
  | "idempotency_conflict"
  | "hold_not_open"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "internal_error"
  | "database_busy"
  | "database_unavailable"
  // Not from the API: an answer that is not the API's JSON error shape (a proxy's HTML page, say).
  | "unexpected_response"
  | (string & {});

/** An API key's scope, as the OpenAPI document names them (`read`, `spend`, `grant`, `holds`, `admin`). */
export type ApiScope = components["schemas"]["InsufficientScopeError"]["error"]["requiredScope"];

type ErrorFields = {
  status: number;
  code: CreditkitErrorCode;
  message: string;
  retryable: boolean;
  requiredScope?: ApiScope;
  available?: number;
  retryAfterSeconds?: number;
  idempotencyKey?: string;
  body: unknown;
};

/**
 * The API answered with an error status (4xx or 5xx), after any retries the client made.
 *
 * - `status`: the HTTP status; `code` and `message`: the API's error code and text (`insufficient_credits`,
 *   `insufficient_scope`, `idempotency_conflict`, …).
 * - `requiredScope`: with 403 `insufficient_scope`, the scope the operation needs and the key lacks.
 * - `available`: with 402 `insufficient_credits`, the credits the account can spend now.
 * - `retryable`: the same request may succeed later (429, 503). `retryAfterSeconds` is the server's
 *   `Retry-After`, when it sent one.
 * - `idempotencyKey`: the key this mutation was sent with. Sending the same call again later with
 *   `{ idempotencyKey }` cannot apply it twice.
 */
export class CreditkitError extends Error {
  override readonly name = "CreditkitError";
  readonly status: number;
  readonly code: CreditkitErrorCode;
  readonly retryable: boolean;
  readonly requiredScope: ApiScope | undefined;
  readonly available: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly idempotencyKey: string | undefined;
  /** The answer's body as received (parsed JSON, or text when it was not JSON). */
  readonly body: unknown;

  constructor(fields: ErrorFields) {
    super(fields.message);
    this.status = fields.status;
    this.code = fields.code;
    this.retryable = fields.retryable;
    this.requiredScope = fields.requiredScope;
    this.available = fields.available;
    this.retryAfterSeconds = fields.retryAfterSeconds;
    this.idempotencyKey = fields.idempotencyKey;
    this.body = fields.body;
  }
}

/**
 * No answer came from the API (connection refused or reset, DNS failure, or every attempt timed out),
 * after the retries the client was allowed. A mutation may or may not have been applied: send it again
 * with the same `idempotencyKey` to find out without applying it twice. `cause` is the last failure.
 */
export class CreditkitConnectionError extends Error {
  override readonly name = "CreditkitConnectionError";
  readonly idempotencyKey: string | undefined;

  constructor(message: string, options: { cause: unknown; idempotencyKey: string | undefined }) {
    super(message, { cause: options.cause });
    this.idempotencyKey = options.idempotencyKey;
  }
}

type ApiErrorBody = {
  error?: {
    code?: unknown;
    message?: unknown;
    retryable?: unknown;
    requiredScope?: unknown;
    available?: unknown;
  };
};

/** The CreditkitError for an error answer: its body is read here (the response is consumed). */
export async function errorFromResponse(
  response: Response,
  details: { idempotencyKey: string | undefined; retryAfterSeconds: number | undefined },
): Promise<CreditkitError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  const error = (body && typeof body === "object" ? (body as ApiErrorBody).error : undefined) ?? {};
  const code = typeof error.code === "string" ? error.code : "unexpected_response";
  const message =
    typeof error.message === "string"
      ? error.message
      : `The API answered ${response.status} ${response.statusText}`.trim();
  return new CreditkitError({
    status: response.status,
    code,
    message,
    retryable: error.retryable === true || response.status === 429 || response.status === 503,
    ...(typeof error.requiredScope === "string" ? { requiredScope: error.requiredScope as ApiScope } : {}),
    ...(typeof error.available === "number" ? { available: error.available } : {}),
    ...(details.retryAfterSeconds !== undefined ? { retryAfterSeconds: details.retryAfterSeconds } : {}),
    ...(details.idempotencyKey !== undefined ? { idempotencyKey: details.idempotencyKey } : {}),
    body,
  });
}

import { CreditkitConnectionError, errorFromResponse } from "./errors.js";

/** How the client sends requests: authentication, Idempotency-Keys, retries and timeouts. */
export type TransportOptions = {
  apiKey: string;
  /** Retries after the first attempt (default 3). 0 turns retrying off. */
  maxRetries: number;
  /** The longest the client waits before one retry, in milliseconds (default 30,000). */
  maxRetryDelayMs: number;
  /** Each attempt is abandoned after this many milliseconds (default 30,000), then retried like a network error. */
  timeoutMs: number;
  /** The first retry's backoff in milliseconds; each next one doubles (with jitter), up to maxRetryDelayMs. */
  initialRetryDelayMs: number;
  fetch: typeof globalThis.fetch;
};

/** The header the service API reads a mutation's idempotency key from. */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Answers the service API asks to retry: rate limited (429) and database busy or unreachable (503). */
const RETRY_STATUSES = new Set([429, 503]);

/**
 * The wait a `Retry-After` header asks for, in milliseconds: delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`), as RFC 9110 §10.2.3 allows both; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with jitter (half to all of the doubled delay), so many clients do not retry in step. */
function backoffMs(attempt: number, options: TransportOptions): number {
  const ceiling = Math.min(options.maxRetryDelayMs, options.initialRetryDelayMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A fetch for openapi-fetch that sends each request as the service API expects and throws on failure:
 *
 * - `Authorization: Bearer <API key>` (src/service-api/api-keys.ts on the server).
 * - Every mutation (any method but GET, HEAD, OPTIONS) carries an `Idempotency-Key`: the caller's if the
 *   request has one, else a random UUID made once per call. Every retry of the call sends the SAME key, so
 *   the server applies the mutation at most once however many attempts reach it.
 * - 429 and 503 are retried after the answer's `Retry-After` (never sooner), or an exponential backoff
 *   when it has none. A `Retry-After` longer than `maxRetryDelayMs` is not waited for: the error is thrown
 *   at once with `retryAfterSeconds`, so a caller never blocks for minutes without knowing.
 * - A request that got no answer (network error, timeout) is retried only when sending it again is safe:
 *   a read, or a mutation with its Idempotency-Key (every mutation this client sends has one).
 * - A final error answer throws CreditkitError; no answer at all throws CreditkitConnectionError. The
 *   caller's AbortSignal stops everything at once, with its own reason.
 */
export function createTransport(options: TransportOptions): (request: Request) => Promise<Response> {
  return async (request) => {
    const method = request.method.toUpperCase();
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${options.apiKey}`);
    if (!SAFE_METHODS.has(method) && !headers.has(IDEMPOTENCY_KEY_HEADER))
      headers.set(IDEMPOTENCY_KEY_HEADER, globalThis.crypto.randomUUID());
    const idempotencyKey = headers.get(IDEMPOTENCY_KEY_HEADER) ?? undefined;
    // Read once, sent on every attempt: a Request's body can be read only once.
    const body = request.body ? await request.arrayBuffer() : undefined;
    const callerSignal = request.signal;
    const mayResend = SAFE_METHODS.has(method) || idempotencyKey !== undefined;

    for (let attempt = 0; ; attempt += 1) {
      const timeout = AbortSignal.timeout(options.timeoutMs);
      let response: Response;
      try {
        response = await options.fetch(request.url, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          redirect: request.redirect,
          signal: AbortSignal.any([callerSignal, timeout]),
        });
      } catch (error) {
        // The caller gave up: not a failure to retry.
        if (callerSignal.aborted) throw callerSignal.reason;
        if (!mayResend || attempt >= options.maxRetries)
          throw new CreditkitConnectionError(
            `No answer from ${new URL(request.url).origin} after ${attempt + 1} attempt(s): ${timeout.aborted ? `timed out after ${options.timeoutMs} ms` : String((error as Error)?.message ?? error)}`,
            { cause: error, idempotencyKey },
          );
        await sleep(backoffMs(attempt, options), callerSignal);
        continue;
      }
      if (response.ok) return response;
      const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
      const retryAfterSeconds = retryAfter === undefined ? undefined : Math.ceil(retryAfter / 1000);
      const wait = Math.max(retryAfter ?? 0, backoffMs(attempt, options));
      if (
        !RETRY_STATUSES.has(response.status) ||
        attempt >= options.maxRetries ||
        (retryAfter ?? 0) > options.maxRetryDelayMs
      )
        throw await errorFromResponse(response, { idempotencyKey, retryAfterSeconds });
      // Free the connection before waiting.
      await response.body?.cancel().catch(() => {});
      await sleep(wait, callerSignal);
    }
  };
}

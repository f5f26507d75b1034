import { Webhook } from "standardwebhooks";

/** What one attempt found: a 2xx answer is `ok`; `statusCode` is null when no answer came at all. */
export type SendResult = {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  /** The first RESPONSE_BODY_LIMIT characters of the answer's body, for the attempt log. */
  responseBody: string | null;
  durationMs: number;
};

/** How much of a receiver's answer the attempt log keeps. */
export const RESPONSE_BODY_LIMIT = 1000;

/** A receiver that has not answered after this long has failed the attempt (it is retried later). */
export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

async function readSome(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    // An endless or huge body is not read to its end.
    await reader.cancel().catch(() => {});
  }
  return text.slice(0, limit);
}

/**
 * POSTs one event, signed per Standard Webhooks with the endpoint's `whsec_` secret: headers `webhook-id`
 * (the event id, the same on every retry, so the receiver drops duplicates by it), `webhook-timestamp`
 * (seconds, the moment of sending: receivers refuse old timestamps, so a retry is signed anew) and
 * `webhook-signature`. Success is any 2xx answer; a redirect is not followed (a receiver that moved is a
 * configuration to fix, and following it would send the event somewhere nobody chose). Never throws.
 */
export async function sendWebhook(input: {
  url: string;
  secret: string;
  eventId: string;
  body: string;
  timeoutMs?: number;
}): Promise<SendResult> {
  const started = performance.now();
  const sentAt = new Date();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const signature = new Webhook(input.secret).sign(input.eventId, sentAt, input.body);
    const response = await fetch(input.url, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(input.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS),
      headers: {
        "content-type": "application/json",
        "user-agent": "creditkit-webhooks/1",
        "webhook-id": input.eventId,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signature,
      },
      body: input.body,
    });
    const responseBody = await readSome(response, RESPONSE_BODY_LIMIT).catch(() => null);
    const ok = response.status >= 200 && response.status < 300;
    return {
      ok,
      statusCode: response.status,
      error: ok ? null : `HTTP ${response.status}`,
      responseBody,
      durationMs: elapsed(),
    };
  } catch (error) {
    const name = (error as Error).name;
    const reason =
      name === "TimeoutError" || name === "AbortError"
        ? `timed out after ${input.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS} ms`
        : describeNetworkError(error);
    return { ok: false, statusCode: null, error: reason, responseBody: null, durationMs: elapsed() };
  }
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`.slice(0, 500);
  return String((error as Error).message ?? error).slice(0, 500);
}

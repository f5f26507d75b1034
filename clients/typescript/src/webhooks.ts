import { Webhook, WebhookVerificationError } from "standardwebhooks";

export { WebhookVerificationError };

/**
 * The event types creditkit sends. Others may be added (subscription events, for one), so `type` also
 * accepts any string: ignore the types you do not handle, and answer 2xx to them.
 */
export type WebhookEventType =
  | "credits.granted"
  | "credits.consumed"
  | "credits.expired"
  | "credits.clawed_back"
  | "balance.low"
  | "balance.depleted"
  | "balance.recovered"
  | "purchase.succeeded"
  | "purchase.refunded"
  | "purchase.disputed"
  | "hold.expired"
  | (string & {});

/**
 * One outbound event, as creditkit signs and sends it.
 *
 * - `id`: the event's id. Delivery is at least once: the same event may arrive more than once, always
 *   with the same id; record the ids you handled and skip repeats.
 * - `type`: what happened (WebhookEventType); `createdAt`: when, ISO 8601.
 * - `account`: whose credits: the signed-up user's id and/or your external id for the customer (either
 *   may be null).
 * - `data`: the facts of the change (credits, balance, ids), enough to act without another call.
 */
export type WebhookEvent<Data = Record<string, unknown>> = {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  account: { userId: string | null; externalId: string | null };
  data: Data;
};

/** Request headers as fetch (Headers) or Node's http module (IncomingHttpHeaders) give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? "";
  const record = headers as Record<string, string | string[] | undefined>;
  const found = Object.keys(record).find((key) => key.toLowerCase() === name);
  const value = found === undefined ? undefined : record[found];
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
}

function isEvent(value: unknown): value is WebhookEvent {
  if (!value || typeof value !== "object") return false;
  const event = value as Record<string, unknown>;
  const account = event.account as Record<string, unknown> | null | undefined;
  return (
    typeof event.id === "string" &&
    typeof event.type === "string" &&
    typeof event.createdAt === "string" &&
    !!account &&
    typeof account === "object" &&
    "data" in event
  );
}

/**
 * Verifies an outbound event's signature (Standard Webhooks: headers `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`, with the endpoint's `whsec_…` signing secret) and returns the event.
 *
 * `payload` must be the request's raw body exactly as received (a string or bytes): parse it only
 * afterwards, since re-serialized JSON no longer matches the signature. A signature that does not match,
 * a timestamp more than five minutes from now (a replay), missing headers, or a payload that is not a
 * creditkit event throw WebhookVerificationError: answer 400 and do not act on it.
 *
 * @example
 * const event = verifyWebhook(await request.text(), request.headers, process.env.CREDITKIT_WEBHOOK_SECRET!);
 */
export function verifyWebhook<Data = Record<string, unknown>>(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
): WebhookEvent<Data> {
  const body = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
  const event = new Webhook(secret).verify(body, {
    "webhook-id": header(headers, "webhook-id"),
    "webhook-timestamp": header(headers, "webhook-timestamp"),
    "webhook-signature": header(headers, "webhook-signature"),
  });
  if (!isEvent(event)) throw new WebhookVerificationError("The payload is not a creditkit event");
  return event as WebhookEvent<Data>;
}

import { randomBytes } from "node:crypto";
import Stripe from "stripe";

/** The real SDK, used only to sign payloads the way Stripe does. It never makes a request. */
const signer = new Stripe("sk_test_x");

export function testId(prefix: string): string {
  return `${prefix}_test_${randomBytes(10).toString("hex")}`;
}

export type PaymentIntentFields = {
  id: string;
  amount: number;
  currency: string;
  metadata: Record<string, string>;
  amount_received?: number;
  status?: string;
  last_payment_error?: { type: string; code?: string; decline_code?: string; message?: string } | null;
  cancellation_reason?: string | null;
};

/** A PaymentIntent object shaped like the ones Stripe puts in `data.object`. */
export function paymentIntentObject(fields: PaymentIntentFields): Record<string, unknown> {
  const status = fields.status ?? "succeeded";
  return {
    object: "payment_intent",
    livemode: false,
    created: Math.floor(Date.now() / 1000),
    latest_charge: status === "succeeded" ? testId("ch") : null,
    last_payment_error: null,
    cancellation_reason: null,
    amount_received: status === "succeeded" ? fields.amount : 0,
    status,
    ...fields,
  };
}

/** A complete Stripe event as raw JSON: what arrives as the webhook's body. */
export function stripeEventPayload(
  type: string,
  object: Record<string, unknown>,
  eventId = testId("evt"),
): string {
  return JSON.stringify({
    id: eventId,
    object: "event",
    api_version: "2025-01-01",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  });
}

/** A Stripe-Signature header for the payload, signed with the SDK; `timestamp` in seconds (default now). */
export function signPayload(payload: string, secret: string, timestamp?: number): string {
  return signer.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp ? { timestamp } : {}) });
}

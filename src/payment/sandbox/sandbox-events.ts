import { randomBytes } from "node:crypto";
import type Stripe from "stripe";
import type { sandboxPaymentIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import { webhookVerifier } from "../stripe/stripe-client";
import { receiveWebhook } from "../webhooks/receive-webhook";

/** The API version the sandbox's events claim. */
const SANDBOX_API_VERSION = "2025-01-01";

export type SandboxIntentRow = typeof sandboxPaymentIntent.$inferSelect;

export function sandboxChargeId(paymentIntentId: string): string {
  return `ch_sbx_${paymentIntentId.replace(/^pi_sbx_/, "")}`;
}

export function toStripePaymentIntent(intent: SandboxIntentRow): Stripe.PaymentIntent {
  const succeeded = intent.status === "succeeded";
  return {
    id: intent.id,
    object: "payment_intent",
    amount: intent.amount,
    amount_received: succeeded ? intent.amount : 0,
    currency: intent.currency,
    status: intent.status,
    metadata: intent.metadata,
    livemode: false,
    created: Math.floor(intent.createdAt.getTime() / 1000),
    latest_charge: succeeded ? sandboxChargeId(intent.id) : null,
    last_payment_error: intent.lastError
      ? {
          type: "card_error",
          code: intent.lastError.code,
          decline_code: intent.lastError.decline_code,
          message: intent.lastError.message,
        }
      : null,
  } as unknown as Stripe.PaymentIntent;
}

export function toStripeCharge(intent: SandboxIntentRow): Stripe.Charge {
  return {
    id: sandboxChargeId(intent.id),
    object: "charge",
    amount: intent.amount,
    amount_captured: intent.amount,
    amount_refunded: intent.amountRefunded,
    currency: intent.currency,
    payment_intent: intent.id,
    refunded: intent.amountRefunded >= intent.amount,
    status: "succeeded",
    livemode: false,
    created: Math.floor(intent.createdAt.getTime() / 1000),
    metadata: intent.metadata,
  } as unknown as Stripe.Charge;
}

/**
 * Delivers a Stripe-shaped event, signed with the sandbox's webhook secret, through the same verification
 * and handler code as POST /api/webhooks/stripe, and waits for it to be applied.
 */
export async function deliverSandboxEvent(
  db: Database,
  webhookSecret: string,
  type: string,
  object: Stripe.PaymentIntent | Stripe.Charge,
): Promise<{ eventId: string; outcome: string }> {
  const event = {
    id: `evt_sbx_${randomBytes(12).toString("hex")}`,
    object: "event",
    api_version: SANDBOX_API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_sbx_${randomBytes(8).toString("hex")}`, idempotency_key: null },
    type,
    data: { object },
  };
  const rawBody = JSON.stringify(event);
  const signature = webhookVerifier.webhooks.generateTestHeaderString({
    payload: rawBody,
    secret: webhookSecret,
  });
  return receiveWebhook(db, { rawBody, signature, secret: webhookSecret });
}

import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { firstRow } from "@/credits/sql-rows";
import { sandboxEventOutbox, type sandboxPaymentIntent } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { STRIPE_API_VERSION } from "../stripe/api-version";

/** A sandbox object id shaped like Stripe's (`pi_sbx_…`, `sub_sbx_…`, `in_sbx_…`). */
export function sandboxId(prefix: string): string {
  return `${prefix}_sbx_${randomBytes(12).toString("hex")}`;
}

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
    // The sandbox cancels only pay dialogs left unpaid (src/payment/abandon-stale-purchases.ts).
    cancellation_reason: intent.status === "canceled" ? "abandoned" : null,
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

/** How long the worker leaves a new event to the request that wrote it. */
const FIRST_RETRY_AFTER_SECONDS = 30;

/**
 * Puts a Stripe-shaped event into the sandbox's outbox. Call it in the transaction that moves the
 * PaymentIntent, refund, subscription or invoice to the state the event reports, so the state change and its event commit
 * together: a crash or a failed delivery can delay an event, never lose it. Deliver it after the commit
 * (src/payment/sandbox/deliver-sandbox-events.ts).
 */
export async function enqueueSandboxEvent(
  tx: DatabaseOrTransaction,
  type: string,
  object: Stripe.PaymentIntent | Stripe.Charge | Stripe.Refund | Stripe.Subscription | Stripe.Invoice,
  paymentIntentId: string | null,
  options: {
    /** The sandbox subscription the event belongs to: its events are delivered together, in order. */
    subscriptionId?: string;
    /** Stripe's `data.previous_attributes` of an `*.updated` event. */
    previousAttributes?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const id = `evt_sbx_${randomBytes(12).toString("hex")}`;
  // The event's `created` is what handlers order a purchase's facts by (a refund's newer charge figure wins
  // over an older one), so it comes from the database's clock, read after the caller locked the
  // PaymentIntent: events of one PaymentIntent are then in the order they happened, whichever app instance
  // (with whatever clock) wrote them. clock_timestamp(), not now(): a transaction that waited for the lock
  // began before the one it waited for committed.
  const created = firstRow<{ created: string | number }>(
    await tx.execute(sql`SELECT floor(extract(epoch FROM clock_timestamp()))::bigint AS created`),
  ).created;
  const event = {
    id,
    object: "event",
    // The version whose shapes the handlers read, as Stripe stamps the endpoint's version on each event.
    api_version: STRIPE_API_VERSION,
    created: Number(created),
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_sbx_${randomBytes(8).toString("hex")}`, idempotency_key: null },
    type,
    data: {
      object,
      ...(options.previousAttributes ? { previous_attributes: options.previousAttributes } : {}),
    },
  };
  await tx.insert(sandboxEventOutbox).values({
    id,
    type,
    paymentIntentId,
    subscriptionId: options.subscriptionId ?? null,
    payload: JSON.stringify(event),
    // One transaction may write several events (a paid invoice: payment_intent.succeeded, invoice.paid,
    // customer.subscription.updated); clock_timestamp() orders them as written, where now() would give
    // them one time and leave their delivery order to their random ids.
    createdAt: sql`clock_timestamp()`,
    // The caller delivers it right after the commit; the worker steps in only if that never happens
    // (the process died in between), so the two rarely deliver the same event at once.
    nextAttemptAt: sql`now() + make_interval(secs => ${FIRST_RETRY_AFTER_SECONDS})`,
  });
  return id;
}

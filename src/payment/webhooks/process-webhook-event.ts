import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { webhookEvent } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import {
  handleChargeDisputeClosed,
  handleChargeDisputeCreated,
  handleChargeDisputeFundsReinstated,
  handleChargeDisputeFundsWithdrawn,
  handleChargeDisputeUpdated,
} from "./charge-dispute";
import { handleChargeRefundUpdated } from "./charge-refund-updated";
import { handleChargeRefunded } from "./charge-refunded";
import { handlePaymentIntentCanceled } from "./payment-intent-canceled";
import { handlePaymentIntentPaymentFailed } from "./payment-intent-payment-failed";
import { handlePaymentIntentSucceeded } from "./payment-intent-succeeded";
import { handleRefundCreated } from "./refund-created";
import { handleRefundFailed } from "./refund-failed";
import { handleRefundUpdated } from "./refund-updated";
import type { WebhookHandler } from "./types";

export const webhookHandlers: Partial<Record<string, WebhookHandler>> = {
  "payment_intent.succeeded": handlePaymentIntentSucceeded,
  "payment_intent.payment_failed": handlePaymentIntentPaymentFailed,
  "payment_intent.canceled": handlePaymentIntentCanceled,
  "charge.refunded": handleChargeRefunded,
  "charge.dispute.created": handleChargeDisputeCreated,
  "charge.dispute.funds_withdrawn": handleChargeDisputeFundsWithdrawn,
  "charge.dispute.funds_reinstated": handleChargeDisputeFundsReinstated,
  "charge.dispute.closed": handleChargeDisputeClosed,
  "charge.dispute.updated": handleChargeDisputeUpdated,
  "charge.refund.updated": handleChargeRefundUpdated,
  "refund.created": handleRefundCreated,
  "refund.updated": handleRefundUpdated,
  "refund.failed": handleRefundFailed,
};

/**
 * Applies a verified event exactly once. The event id is inserted in the same transaction as the
 * handler's effects: a duplicate delivery finds the id (waiting on the first delivery's lock if it is
 * still running) and does nothing; a failure rolls both back so the provider's retry starts clean.
 */
export async function processWebhookEvent(db: Database, event: Stripe.Event): Promise<string> {
  const outcome = await db.transaction(async (tx) => {
    const inserted = await tx
      .insert(webhookEvent)
      .values({ id: event.id, type: event.type, outcome: "processing" })
      .onConflictDoNothing()
      .returning({ id: webhookEvent.id });
    if (inserted.length === 0) return "duplicate";
    const handler = webhookHandlers[event.type];
    const result = handler ? await handler(tx, event) : "ignored_event_type";
    await tx.update(webhookEvent).set({ outcome: result }).where(eq(webhookEvent.id, event.id));
    return result;
  });
  logger.info({ eventId: event.id, eventType: event.type, outcome }, "webhook processed");
  return outcome;
}

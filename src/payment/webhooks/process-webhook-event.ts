import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { webhookEvent } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
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
import { recordWebhookFailure, resolveWebhookFailure } from "./record-webhook-failure";
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

export type ProcessOptions = {
  /** Who resolves a stored failure of this event when it now succeeds: "redelivery" unless an admin retries. */
  resolvedBy?: string;
  /** Runs in the event's transaction after the handler (an admin retry writes its audit entry here). */
  inTransaction?: (tx: DatabaseOrTransaction, outcome: string) => Promise<void>;
};

/**
 * Applies a verified event exactly once. The event id is inserted in the same transaction as the
 * handler's effects: a duplicate delivery finds the id (waiting on the first delivery's lock if it is
 * still running) and does nothing; a failure rolls both back so the provider's retry starts clean.
 * A stored failure of the event (see processVerifiedEvent) is resolved in the same transaction.
 */
export async function processWebhookEvent(
  db: Database,
  event: Stripe.Event,
  options: ProcessOptions = {},
): Promise<string> {
  const resolvedBy = options.resolvedBy ?? "redelivery";
  const outcome = await db.transaction(async (tx) => {
    const inserted = await tx
      .insert(webhookEvent)
      .values({ id: event.id, type: event.type, outcome: "processing" })
      .onConflictDoNothing()
      .returning({ id: webhookEvent.id });
    if (inserted.length === 0) {
      // Processed before. An admin's retry of a failure stored by an attempt that lost a race with the
      // delivery that succeeded settles it with the recorded outcome. (Stripe's own duplicates skip this:
      // the webhook's round trips per event stay as they were.)
      if (options.resolvedBy) await resolveWebhookFailure(tx, event.id, { by: resolvedBy, outcome: null });
      await options.inTransaction?.(tx, "duplicate");
      return "duplicate";
    }
    const handler = webhookHandlers[event.type];
    const result = handler ? await handler(tx, event) : "ignored_event_type";
    // One statement records the outcome and resolves a stored failure of this event, if there is one.
    await tx.execute(sql`
      WITH resolved AS (
        UPDATE webhook_failure SET resolved_at = now(), resolved_by = ${resolvedBy}, resolution = ${result}
        WHERE event_id = ${event.id} AND resolved_at IS NULL RETURNING event_id)
      UPDATE webhook_event SET outcome = ${result} WHERE id = ${event.id}`);
    await options.inTransaction?.(tx, result);
    return result;
  });
  logger.info({ eventId: event.id, eventType: event.type, outcome }, "webhook processed");
  return outcome;
}

/**
 * Processes an event whose signature was verified (Stripe's webhook, the sandbox's deliveries, an
 * admin's retry). If processing fails, the failure is logged at error level and stored with its reason
 * and the verified payload, in a transaction of its own, then rethrown: the caller answers 5xx so the
 * sender retries, and an operator can see and retry it (Admin → Failed webhooks; `verify` counts it).
 */
export async function processVerifiedEvent(
  db: Database,
  event: Stripe.Event,
  rawBody: string,
  options: ProcessOptions = {},
): Promise<string> {
  try {
    return await processWebhookEvent(db, event, options);
  } catch (error) {
    logger.error(
      { err: error, eventId: event.id, eventType: event.type },
      "webhook processing failed after its signature was verified; stored for retry",
    );
    try {
      await recordWebhookFailure(db, event, rawBody, error);
    } catch (storeError) {
      // The database itself is unreachable: the sender's retries (Stripe's, or the sandbox's outbox)
      // still hold the event; the log line above and this one are what is left for the operator.
      logger.error(
        { err: storeError, eventId: event.id, eventType: event.type },
        "the failed webhook could not be stored",
      );
    }
    throw error;
  }
}

import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { webhookEvent } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { getPaymentProvider } from "../get-payment-provider";
import { type PaymentProvider, UnknownEventValueError } from "../types";
import { withAutoTopUpAttempt } from "./auto-top-up-attempt";
import {
  handleChargeDisputeClosed,
  handleChargeDisputeCreated,
  handleChargeDisputeFundsReinstated,
  handleChargeDisputeFundsWithdrawn,
  handleChargeDisputeUpdated,
} from "./charge-dispute";
import { handleChargeRefundUpdated } from "./charge-refund-updated";
import { handleChargeRefunded } from "./charge-refunded";
import { handleCheckoutSessionCompleted } from "./checkout-session-completed";
import { handleCheckoutSessionExpired } from "./checkout-session-expired";
import { handleCustomerSubscriptionCreated } from "./customer-subscription-created";
import { handleCustomerSubscriptionDeleted } from "./customer-subscription-deleted";
import { handleCustomerSubscriptionUpdated } from "./customer-subscription-updated";
import { handleInvoicePaid } from "./invoice-paid";
import { handleInvoicePaymentActionRequired } from "./invoice-payment-action-required";
import { handleInvoicePaymentFailed } from "./invoice-payment-failed";
import { handlePaymentIntentCanceled } from "./payment-intent-canceled";
import { handlePaymentIntentPaymentFailed } from "./payment-intent-payment-failed";
import { handlePaymentIntentSucceeded } from "./payment-intent-succeeded";
import { recordWebhookFailure, resolveWebhookFailure } from "./record-webhook-failure";
import { handleRefundCreated } from "./refund-created";
import { handleRefundFailed } from "./refund-failed";
import { handleRefundUpdated } from "./refund-updated";
import { handleSetupIntentSucceeded } from "./setup-intent-succeeded";
import type { WebhookHandler } from "./types";

export const webhookHandlers: Partial<Record<string, WebhookHandler>> = {
  // Each also settles the auto top-up attempt its PaymentIntent charges, if it charges one.
  "payment_intent.succeeded": withAutoTopUpAttempt(handlePaymentIntentSucceeded),
  "payment_intent.payment_failed": withAutoTopUpAttempt(handlePaymentIntentPaymentFailed),
  "payment_intent.canceled": withAutoTopUpAttempt(handlePaymentIntentCanceled),
  "setup_intent.succeeded": handleSetupIntentSucceeded,
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
  "checkout.session.completed": handleCheckoutSessionCompleted,
  "checkout.session.expired": handleCheckoutSessionExpired,
  "customer.subscription.created": handleCustomerSubscriptionCreated,
  "customer.subscription.updated": handleCustomerSubscriptionUpdated,
  "customer.subscription.deleted": handleCustomerSubscriptionDeleted,
  "invoice.paid": handleInvoicePaid,
  "invoice.payment_failed": handleInvoicePaymentFailed,
  "invoice.payment_action_required": handleInvoicePaymentActionRequired,
};

/**
 * The outcome of an event that was refused because it carries a value this code does not know
 * (UnknownEventValueError): `refused:<reason>`. Nothing of it was applied and its id was not recorded, so a
 * redelivery or an admin's retry processes it again.
 */
export const REFUSED_OUTCOME_PREFIX = "refused:";

export type ProcessOptions = {
  /** The verified raw body, stored with a refused event for an admin's retry (default: the event as JSON). */
  rawBody?: string;
  /** Who resolves a stored failure of this event when it now succeeds: "redelivery" unless an admin retries. */
  resolvedBy?: string;
  /** Runs in the event's transaction after the handler (an admin retry writes its audit entry here). */
  inTransaction?: (tx: DatabaseOrTransaction, outcome: string) => Promise<void>;
  /** Tests only: the time the ledger judges expiry by (production: the database's clock). */
  now?: Date;
  /** The provider handlers may ask for an object's current state (default: the configured one). */
  provider?: () => PaymentProvider;
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
  let outcome: string;
  try {
    outcome = await db.transaction(async (tx) => {
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
      const result = handler
        ? await handler(tx, event, {
            now: options.now,
            provider: options.provider ?? (() => getPaymentProvider(db)),
          })
        : "ignored_event_type";
      // One statement records the outcome and resolves a stored failure of this event, if there is one.
      await tx.execute(sql`
        WITH resolved AS (
          UPDATE webhook_failure SET resolved_at = now(), resolved_by = ${resolvedBy}, resolution = ${result}
          WHERE event_id = ${event.id} AND resolved_at IS NULL RETURNING event_id)
        UPDATE webhook_event SET outcome = ${result} WHERE id = ${event.id}`);
      await options.inTransaction?.(tx, result);
      return result;
    });
  } catch (error) {
    if (!(error instanceof UnknownEventValueError)) throw error;
    // Deterministic: every attempt will refuse it until the code knows the value. The transaction rolled
    // back (the event id is not recorded), and the event is stored as a failed webhook so that it is seen
    // (Admin → Failed webhooks, `verify`) and can be retried once the code knows it.
    logger.error(
      { err: error, eventId: event.id, eventType: event.type, ...error.context },
      "webhook event carries a value this code does not know: nothing applied, stored as a failed webhook",
    );
    await recordWebhookFailure(db, event, options.rawBody ?? JSON.stringify(event), error);
    return `${REFUSED_OUTCOME_PREFIX}${error.code}`;
  }
  logger.info({ eventId: event.id, eventType: event.type, outcome }, "webhook processed");
  return outcome;
}

/**
 * Processes an event whose signature was verified (Stripe's webhook, the sandbox's deliveries, an
 * admin's retry). If processing fails, the failure is logged at error level and stored with its reason
 * and the verified payload, in a transaction of its own, then rethrown: the caller answers 5xx so the
 * sender retries (an event refused for a value this code does not know is stored by processWebhookEvent
 * and answered the same way), and an operator can see and retry it (Admin → Failed webhooks; `verify` counts it).
 */
export async function processVerifiedEvent(
  db: Database,
  event: Stripe.Event,
  rawBody: string,
  options: ProcessOptions = {},
): Promise<string> {
  let outcome: string;
  try {
    outcome = await processWebhookEvent(db, event, { ...options, rawBody });
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
  // Refused (already logged and stored): the sender must not take it as applied, so it keeps retrying.
  if (outcome.startsWith(REFUSED_OUTCOME_PREFIX)) {
    throw new UnknownEventValueError(`Event ${event.id} was refused: ${outcome}.`, { eventId: event.id });
  }
  return outcome;
}

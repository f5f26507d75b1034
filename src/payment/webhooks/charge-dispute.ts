import type Stripe from "stripe";
import { isKnownDisputeStatus } from "@/credits/purchase-clawback-rules";
import { logger } from "@/lib/logger";
import { recordDisputeFact } from "../record-dispute-facts";
import { eventTime } from "../record-refund-facts";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { UnknownEventValueError } from "../types";
import { paymentIntentIdOf } from "./purchase-lookup";
import { findPurchaseOfPayment } from "./purchase-of-payment";
import type { WebhookHandler } from "./types";

/**
 * Every dispute event (`charge.dispute.created`, `.updated`, `.funds_withdrawn`, `.funds_reinstated`,
 * `.closed`) is handled alike: it reports one dispute's `status` at the event's `created` time. Each
 * dispute of the purchase keeps its own newest fact (src/payment/record-dispute-facts.ts), so an inquiry
 * that closes does not hide a chargeback opened under another id; the credits taken back follow the
 * disputes whose newest fact has the funds withdrawn (src/credits/purchase-clawback-rules.ts). Deciding
 * from the dispute object rather than from the event's type means a `closed` (won) followed by a late
 * `created` ends won, in any order. A status this code does not know fails the event
 * (UnknownEventValueError): it is stored for the operator and retried, never acknowledged unapplied.
 */
export const handleDisputeEvent: WebhookHandler = async (tx, event, context) => {
  const dispute = event.data.object as Stripe.Dispute;
  const paymentIntentId = paymentIntentIdOf(dispute.payment_intent);
  // A subscription invoice refunded or disputed before its invoice.paid: see purchase-of-payment.ts.
  const purchase = await findPurchaseOfPayment(tx, paymentIntentId, context, event);
  const log = logger.child({
    eventId: event.id,
    disputeId: dispute.id,
    paymentIntentId,
    status: dispute.status,
  });
  if (!purchase) {
    log.warn("dispute for an unknown PaymentIntent");
    return "unknown_payment_intent";
  }
  if (!isKnownDisputeStatus(dispute.status)) {
    throw new UnknownEventValueError(`Dispute ${dispute.id} has a status this code does not know.`, {
      purchaseId: purchase.id,
      disputeId: dispute.id,
      status: dispute.status,
    });
  }
  const withdrawn = await recordDisputeFact(tx, purchase, {
    id: dispute.id,
    amount: dispute.amount,
    status: dispute.status,
    eventType: event.type,
    at: eventTime(event.created),
  });
  log.info({ purchaseId: purchase.id, amountWithdrawn: withdrawn }, "dispute status recorded");
  return settlePurchaseClawback(tx, purchase.id, context?.now);
};

export const handleChargeDisputeCreated = handleDisputeEvent;
export const handleChargeDisputeUpdated = handleDisputeEvent;
export const handleChargeDisputeFundsWithdrawn = handleDisputeEvent;
export const handleChargeDisputeFundsReinstated = handleDisputeEvent;
export const handleChargeDisputeClosed = handleDisputeEvent;

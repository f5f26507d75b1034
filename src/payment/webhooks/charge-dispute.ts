import type Stripe from "stripe";
import { disputeFundsWithdrawn, isNewerDisputeFact } from "@/credits/purchase-clawback-rules";
import { logger } from "@/lib/logger";
import { eventTime } from "../record-refund-facts";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { findPurchaseByPaymentIntentId, paymentIntentIdOf, updatePurchase } from "./purchase-lookup";
import type { WebhookHandler } from "./types";

/**
 * Every dispute event (`charge.dispute.created`, `.updated`, `.funds_withdrawn`, `.funds_reinstated`,
 * `.closed`) is handled alike: it reports the dispute's `status` at the event's `created` time. The purchase
 * keeps the newest such fact (an older event never overrides a newer one; equal times are ordered by
 * isNewerDisputeFact), and whether the dispute has withdrawn the funds is derived from it
 * (src/credits/purchase-clawback-rules.ts): funds withdrawn take back every credit of the purchase, funds
 * returned give them back, inquiries (`warning_*`) move nothing. Deciding from the dispute object rather
 * than from the event's type means a `closed` (won) followed by a late `created` ends won, in any order.
 */
export const handleDisputeEvent: WebhookHandler = async (tx, event) => {
  const dispute = event.data.object as Stripe.Dispute;
  const paymentIntentId = paymentIntentIdOf(dispute.payment_intent);
  const purchase = paymentIntentId ? await findPurchaseByPaymentIntentId(tx, paymentIntentId) : undefined;
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
  const withdrawn = disputeFundsWithdrawn(dispute.status, event.type);
  if (withdrawn === undefined) {
    // A status this code does not know decides nothing; it is logged so someone looks at it.
    log.error({ purchaseId: purchase.id }, "dispute with an unknown status: purchase unchanged");
    return "ignored_unknown_dispute_status";
  }
  const fact = { status: dispute.status, eventType: event.type, at: eventTime(event.created) };
  const current =
    purchase.disputeStatus && purchase.disputeEventType && purchase.disputeEventAt
      ? { status: purchase.disputeStatus, eventType: purchase.disputeEventType, at: purchase.disputeEventAt }
      : null;
  if (!isNewerDisputeFact(fact, current)) {
    log.info({ purchaseId: purchase.id }, "older dispute event: newer status already recorded");
    return settlePurchaseClawback(tx, purchase.id);
  }
  await updatePurchase(tx, purchase.id, {
    disputeStatus: fact.status,
    disputeEventType: fact.eventType,
    disputeEventAt: fact.at,
    disputed: withdrawn,
  });
  log.info({ purchaseId: purchase.id, fundsWithdrawn: withdrawn }, "dispute status recorded");
  return settlePurchaseClawback(tx, purchase.id);
};

export const handleChargeDisputeCreated = handleDisputeEvent;
export const handleChargeDisputeUpdated = handleDisputeEvent;
export const handleChargeDisputeFundsWithdrawn = handleDisputeEvent;
export const handleChargeDisputeFundsReinstated = handleDisputeEvent;
export const handleChargeDisputeClosed = handleDisputeEvent;

import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { findPurchaseByPaymentIntentId, paymentIntentIdOf, updatePurchase } from "./purchase-lookup";
import type { WebhookHandler } from "./types";

/**
 * Disputes. Funds withdrawn (or a dispute created that is not an inquiry) claws back like a full refund;
 * a dispute won or funds reinstated gives the credits back; inquiries (`warning_*`) change nothing,
 * because no money has moved yet.
 */
function disputeHandler(decide: (dispute: Stripe.Dispute) => boolean | "ignore"): WebhookHandler {
  return async (tx, event) => {
    const dispute = event.data.object as Stripe.Dispute;
    const decision = decide(dispute);
    if (decision === "ignore") return "ignored_inquiry";
    const paymentIntentId = paymentIntentIdOf(dispute.payment_intent);
    const purchase = paymentIntentId ? await findPurchaseByPaymentIntentId(tx, paymentIntentId) : undefined;
    if (!purchase) {
      logger.warn(
        { eventId: event.id, disputeId: dispute.id, paymentIntentId },
        "dispute for an unknown PaymentIntent",
      );
      return "unknown_payment_intent";
    }
    if (purchase.disputed !== decision) await updatePurchase(tx, purchase.id, { disputed: decision });
    logger.info(
      { eventId: event.id, purchaseId: purchase.id, disputed: decision, status: dispute.status },
      "dispute update",
    );
    return settlePurchaseClawback(tx, purchase.id);
  };
}

const isInquiry = (dispute: Stripe.Dispute) => dispute.status.startsWith("warning_");

export const handleChargeDisputeCreated = disputeHandler((dispute) => (isInquiry(dispute) ? "ignore" : true));
export const handleChargeDisputeFundsWithdrawn = disputeHandler(() => true);
export const handleChargeDisputeFundsReinstated = disputeHandler(() => false);
export const handleChargeDisputeClosed = disputeHandler((dispute) => {
  if (isInquiry(dispute)) return "ignore";
  return dispute.status !== "won";
});

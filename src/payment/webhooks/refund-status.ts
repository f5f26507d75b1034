import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { eventTime, recordRefundStatus, updateRefundedAmount } from "../record-refund-facts";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { paymentIntentIdOf } from "./purchase-lookup";
import { findPurchaseOfPayment } from "./purchase-of-payment";
import type { WebhookHandler } from "./types";

/**
 * The events that carry one Refund object (`charge.refund.updated`, `refund.created`, `refund.updated`,
 * `refund.failed`) all record the same fact: this refund's amount and newest status at the event's time.
 * A refund that failed after it was issued (status `failed`; Stripe returns the money to the merchant)
 * stops counting as refunded, so the credits taken back for it are given back. A status this code does not
 * know fails the event (UnknownEventValueError).
 */
export const handleRefundStatus: WebhookHandler = async (tx, event, context) => {
  const refund = event.data.object as Stripe.Refund;
  const paymentIntentId = paymentIntentIdOf(refund.payment_intent);
  // A subscription invoice refunded or disputed before its invoice.paid: see purchase-of-payment.ts.
  const purchase = await findPurchaseOfPayment(tx, paymentIntentId, context, event);
  if (!purchase) {
    logger.warn(
      { eventId: event.id, refundId: refund.id, paymentIntentId },
      "refund update for an unknown PaymentIntent",
    );
    return "unknown_payment_intent";
  }
  if (!refund.status) return "ignored_refund_without_status";
  await recordRefundStatus(
    tx,
    purchase,
    { id: refund.id, amount: refund.amount, status: refund.status, created: refund.created },
    eventTime(event.created),
  );
  await updateRefundedAmount(tx, purchase);
  logger.info(
    { eventId: event.id, purchaseId: purchase.id, refundId: refund.id, status: refund.status },
    "refund status recorded",
  );
  return settlePurchaseClawback(tx, purchase.id, context?.now);
};

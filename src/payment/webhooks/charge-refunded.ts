import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import {
  eventTime,
  recordChargeRefunded,
  recordRefundStatus,
  updateRefundedAmount,
} from "../record-refund-facts";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { paymentIntentIdOf } from "./purchase-lookup";
import { findPurchaseOfPayment } from "./purchase-of-payment";
import type { WebhookHandler } from "./types";

/**
 * A charge was refunded, fully or in part. The charge's cumulative `amount_refunded` is recorded with the
 * event's time (the newest figure counts, not the highest: a refund that fails later lowers it), along with
 * each refund the charge lists when the payload carries them (API versions before 2022-11-15 do). The
 * purchase's refunded amount is then derived from all refund facts (src/credits/purchase-clawback-rules.ts),
 * so repeated, late and reordered events, and refunds that fail afterwards, all end in the same state.
 */
export const handleChargeRefunded: WebhookHandler = async (tx, event, context) => {
  const charge = event.data.object as Stripe.Charge;
  const paymentIntentId = paymentIntentIdOf(charge.payment_intent);
  // A subscription invoice refunded or disputed before its invoice.paid: see purchase-of-payment.ts.
  const found = await findPurchaseOfPayment(tx, paymentIntentId, context, event);
  if (!found) {
    logger.warn(
      { eventId: event.id, chargeId: charge.id, paymentIntentId },
      "refund for an unknown PaymentIntent",
    );
    return "unknown_payment_intent";
  }
  const at = eventTime(event.created);
  const purchase = await recordChargeRefunded(tx, found, charge.amount_refunded, at);
  for (const refund of charge.refunds?.data ?? []) {
    if (refund.status) {
      await recordRefundStatus(
        tx,
        purchase,
        { id: refund.id, amount: refund.amount, status: refund.status, created: refund.created },
        at,
      );
    }
  }
  await updateRefundedAmount(tx, purchase);
  return settlePurchaseClawback(tx, purchase.id, context?.now);
};

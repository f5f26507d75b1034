import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { findPurchaseByPaymentIntentId, paymentIntentIdOf, updatePurchase } from "./purchase-lookup";
import type { WebhookHandler } from "./types";

/**
 * Refunds are deduplicated by the charge's cumulative `amount_refunded`, not by refund id: the purchase
 * keeps the highest cumulative amount seen, so a repeated or late, older event changes nothing, and full
 * and partial refunds are the same code path.
 */
export const handleChargeRefunded: WebhookHandler = async (tx, event) => {
  const charge = event.data.object as Stripe.Charge;
  const paymentIntentId = paymentIntentIdOf(charge.payment_intent);
  const purchase = paymentIntentId ? await findPurchaseByPaymentIntentId(tx, paymentIntentId) : undefined;
  if (!purchase) {
    logger.warn(
      { eventId: event.id, chargeId: charge.id, paymentIntentId },
      "refund for an unknown PaymentIntent",
    );
    return "unknown_payment_intent";
  }
  const refunded = Math.min(charge.amount_refunded, purchase.amount);
  // The purchase row is locked: keeping the highest cumulative amount seen makes late events harmless.
  if (refunded > purchase.amountRefunded) await updatePurchase(tx, purchase.id, { amountRefunded: refunded });
  return settlePurchaseClawback(tx, purchase.id);
};

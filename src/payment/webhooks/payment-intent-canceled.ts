import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { findPurchaseForPaymentIntent, updatePurchase } from "./purchase-lookup";
import type { WebhookHandler } from "./types";

/** A purchase still waiting for its payment; an abandoned one too, since its customer came back. */
const OPEN_STATUSES = new Set(["pending", "failed", "abandoned"]);

export const handlePaymentIntentCanceled: WebhookHandler = async (tx, event) => {
  const intent = event.data.object as Stripe.PaymentIntent;
  const purchase = await findPurchaseForPaymentIntent(tx, intent);
  if (!purchase) return "unknown_payment_intent";
  // A subscription invoice's purchase follows the invoice's own events: its PaymentIntent's attempts are
  // the invoice's (a declined first attempt reported late, after a refund of the paid one recorded the
  // invoice's pending purchase: purchase-of-payment.ts), and `invoice.paid` settles it.
  if (purchase.kind === "subscription_invoice") return "invoice_payment";
  // Only an open purchase changes: a paid one, or one flagged for review, must not be overwritten by a
  // late event about an earlier attempt (Stripe does not guarantee delivery order).
  if (purchase.status === "succeeded") return "ignored_already_succeeded";
  if (!OPEN_STATUSES.has(purchase.status)) return `ignored_${purchase.status}`;
  // Canceled because the purchase was abandoned (src/payment/abandon-stale-purchases.ts): the purchase
  // already says so, and "abandoned" tells an operator more than "canceled".
  if (purchase.status === "abandoned" && intent.cancellation_reason === "abandoned")
    return "already_abandoned";
  await updatePurchase(tx, purchase.id, {
    status: "canceled",
    failureCode: intent.cancellation_reason ?? "canceled",
    failureMessage: "The payment was canceled.",
  });
  logger.info({ eventId: event.id, purchaseId: purchase.id, userId: purchase.userId }, "purchase canceled");
  return "marked_canceled";
};

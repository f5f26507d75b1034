import { recordPaymentProblem } from "../subscriptions/record-payment-problem";
import { requirePinnedApiVersion } from "./pinned-api-version";
import type { WebhookHandler } from "./types";

/**
 * `invoice.payment_failed`: a subscription's invoice could not be charged (a renewal with a card that
 * declines, or a first payment that failed). Records the problem for the app to show
 * (recordPaymentProblem); grants nothing and takes nothing. The subscription's `past_due` status arrives
 * in its own `customer.subscription.updated`. A later `invoice.paid` of the same invoice grants its
 * period (once) and lifts the problem.
 */
export const handleInvoicePaymentFailed: WebhookHandler = async (tx, event) => {
  requirePinnedApiVersion(event);
  return recordPaymentProblem(tx, event, "payment_failed");
};

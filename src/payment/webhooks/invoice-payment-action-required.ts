import { recordPaymentProblem } from "../subscriptions/record-payment-problem";
import { requirePinnedApiVersion } from "./pinned-api-version";
import type { WebhookHandler } from "./types";

/**
 * `invoice.payment_action_required`: the invoice's payment waits for the customer to authenticate it
 * (3D Secure on an off-session renewal). Recorded like a failed payment, with the invoice's hosted page
 * as where to act (recordPaymentProblem); grants nothing until `invoice.paid`.
 */
export const handleInvoicePaymentActionRequired: WebhookHandler = async (tx, event) => {
  requirePinnedApiVersion(event);
  return recordPaymentProblem(tx, event, "action_required");
};

import type Stripe from "stripe";
import type { DatabaseOrTransaction } from "@/db/types";
import type { SubscriptionRow } from "./lock-subscription";

/**
 * Records a paid subscription invoice as a purchase (credit_purchase, kind `subscription_invoice`), so its
 * refunds and disputes take back that invoice's credits by the rules packages follow. Called by
 * `invoice.paid` after every line's grant rows (subscription_period_grant) are written: the purchase's
 * credits are what those rows entitle to (scheduled yearly slots included), its issued credits what they
 * granted, and their lots are linked to it. Returns an outcome to log, or null for a $0 invoice.
 * (Work in progress: not applied yet.)
 */
export async function recordInvoicePurchase(
  _tx: DatabaseOrTransaction,
  _input: { subscription: SubscriptionRow; invoice: Stripe.Invoice },
  _now?: Date,
): Promise<string | null> {
  return null;
}

/**
 * A yearly slot of a paid invoice was granted later (by the `subscription-credits` job): its credits count
 * as issued on the invoice's purchase, its lot is linked to it, and the purchase's clawback is settled
 * again (a partial refund takes its share of each slot as it arrives). Call it in the slot's transaction.
 * (Work in progress: not applied yet.)
 */
export async function noteSlotIssued(
  _tx: DatabaseOrTransaction,
  _input: { invoiceId: string; credits: number; lotId: string },
  _now?: Date,
): Promise<void> {}

/**
 * Whether a paid invoice's money has gone back to the customer in full (refunded, or disputed with the
 * funds withdrawn): then the yearly slots not yet issued are stopped rather than granted.
 * (Work in progress: always false yet.)
 */
export async function isInvoiceReturnedInFull(
  _tx: DatabaseOrTransaction,
  _invoiceId: string,
): Promise<boolean> {
  return false;
}

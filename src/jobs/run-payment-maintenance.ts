import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { abandonStalePurchases } from "@/payment/abandon-stale-purchases";
import { reconcilePayments } from "@/payment/reconcile-payments";
import { pruneSandboxIdempotencyKeys } from "@/payment/sandbox/sandbox-idempotency";
import { settlePendingInvoicePurchases } from "@/payment/settle-pending-invoice-purchases";
import type { PaymentProvider } from "@/payment/types";

/**
 * How far back the scheduled reconciliation looks. Stripe retries a webhook for three days and then
 * gives up (https://docs.stripe.com/webhooks#retries); seven days also covers a scheduler that was down
 * over a long weekend.
 */
export const RECONCILE_LOOKBACK_DAYS = 7;

/** How often the jobs run it. */
export const RECONCILE_EVERY_MINUTES = 15;

/**
 * The scheduled payment maintenance: grants every succeeded PaymentIntent of the last week whose
 * webhook never credited it, and every paid PaymentIntent of a purchase abandoned in that week (so no
 * paid purchase stays ungranted without anyone acting; what it grants is logged at warn level), then
 * marks purchases pending for a day `abandoned` and cancels their PaymentIntents at the provider (after
 * reconciling, so a payment that succeeded is granted, not abandoned; a cancel that finds the payment
 * succeeded grants it), then settles subscription invoices whose purchase an early refund or dispute
 * recorded and whose `invoice.paid` has not come within an hour (the provider is asked: paid → applied
 * through the `invoice.paid` handler, void/uncollectible/unknown → `invoice_unpaid`;
 * settle-pending-invoice-purchases.ts), then prunes sandbox idempotency keys past 24 hours.
 */
export async function runPaymentMaintenance(db: Database, provider: PaymentProvider, now?: Date) {
  const since = new Date((now ?? new Date()).getTime() - RECONCILE_LOOKBACK_DAYS * 24 * 3600 * 1000);
  const reconcile = await reconcilePayments(db, provider, since);
  const { abandoned } = await abandonStalePurchases(db, provider);
  const pendingInvoices = await settlePendingInvoicePurchases(db, provider, { now });
  const prunedKeys = provider.name === "sandbox" ? await pruneSandboxIdempotencyKeys(db) : 0;
  const result = { reconcile, abandoned, pendingInvoices, prunedKeys };
  if (reconcile.granted > 0)
    logger.warn(result, "payment maintenance: reconciliation granted missed payments");
  return result;
}

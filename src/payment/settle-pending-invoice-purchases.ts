import { and, eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { clockParam } from "@/credits/database-clock";
import { creditPurchase, webhookEvent } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { STRIPE_API_VERSION } from "./stripe/api-version";
import type { PaymentProvider } from "./types";
import { processWebhookEvent, REFUSED_OUTCOME_PREFIX } from "./webhooks/process-webhook-event";

/**
 * How long a subscription invoice's pending purchase waits for its own `invoice.paid` before the provider
 * is asked. Stripe sends `invoice.paid` within seconds of the payment and retries a refused delivery within
 * the hour (https://docs.stripe.com/webhooks#retries); an hour leaves that path to do its work first.
 */
export const PENDING_INVOICE_GRACE_MINUTES = 60;

export type PendingInvoiceReport = {
  checked: number;
  /** Paid at the provider: applied through the `invoice.paid` handler, the purchase no longer pending. */
  applied: number;
  /** Void, uncollectible or unknown to the provider: marked `invoice_unpaid`. */
  unpaid: number;
  /** Still open or draft at the provider: left pending for a later run. */
  waiting: number;
  /** The provider could not be asked, or the invoice could not be applied now: the next run tries again. */
  failed: number;
};

/** Invoice statuses after which no money can come in through Stripe's own collection. */
const NEVER_PAID = new Set(["void", "uncollectible"]);

/**
 * The scheduled check of subscription invoices whose purchase a refund or dispute recorded `pending`
 * before their `invoice.paid` (purchase-of-payment.ts) and whose `invoice.paid` has not come within
 * PENDING_INVOICE_GRACE_MINUTES (by the database's clock; `now` is for tests only): without it Admin would
 * show such a purchase pending forever once Stripe gave up delivering the event (three days). The provider
 * is asked for the invoice (retrieveInvoice), then:
 *
 * - `paid`: applied as its `invoice.paid` would be, through that handler (processWebhookEvent) under the
 *   synthetic event id `reconcile_<invoice id>`, so the period's credits, the purchase and the settlement of
 *   the early refund or dispute are written by the one code path, once: the grant is keyed by the invoice
 *   and period, a second run finds the event id taken, and the real `invoice.paid` arriving later finds
 *   the period granted (`already_granted`);
 * - `void`, `uncollectible` or unknown to the provider: the purchase is marked `invoice_unpaid` with the
 *   reason in `failure_code` (`invoice_void`, `invoice_uncollectible`, `invoice_not_found`) and in words
 *   in `failure_message`, which Admin shows. Nothing was granted for it, so nothing is taken back. The mark
 *   is conditional on the purchase still being `pending` (a concurrent `invoice.paid` wins), and not final
 *   for the money: an uncollectible invoice Stripe later collects sends `invoice.paid`, which completes
 *   the purchase as any other (invoice-purchase.ts takes every status but `succeeded`);
 * - `open` or `draft`: still being collected (Stripe's retries), left pending for a later run.
 *
 * One purchase's failure (provider unreachable, a busy account) never stops the others. Only purchases of
 * this provider are checked.
 */
export async function settlePendingInvoicePurchases(
  db: Database,
  provider: PaymentProvider,
  options: { now?: Date } = {},
): Promise<PendingInvoiceReport> {
  const report: PendingInvoiceReport = { checked: 0, applied: 0, unpaid: 0, waiting: 0, failed: 0 };
  const at = sql`coalesce(${clockParam(options.now)}::timestamptz, now())`;
  const pending = await db
    .select({ id: creditPurchase.id, invoiceId: creditPurchase.invoiceId })
    .from(creditPurchase)
    .where(
      and(
        eq(creditPurchase.kind, "subscription_invoice"),
        eq(creditPurchase.status, "pending"),
        eq(creditPurchase.provider, provider.name),
        sql`${creditPurchase.invoiceId} IS NOT NULL`,
        sql`${creditPurchase.createdAt} < ${at} - make_interval(mins => ${PENDING_INVOICE_GRACE_MINUTES})`,
      ),
    );
  for (const purchase of pending) {
    const invoiceId = purchase.invoiceId as string;
    report.checked++;
    const log = logger.child({ purchaseId: purchase.id, invoiceId });
    try {
      const invoice = await provider.retrieveInvoice(invoiceId);
      if (invoice?.status === "paid") {
        const outcome = await applyPaidInvoice(db, invoice, provider);
        // Applied only when the purchase left `pending`: refused (a value the code cannot apply yet),
        // failed, or an outcome that did not complete the purchase all leave it for the next run, and
        // counting those as applied would hide a purchase asked about forever.
        const [after] = await db
          .select({ status: creditPurchase.status })
          .from(creditPurchase)
          .where(eq(creditPurchase.id, purchase.id));
        const left = after?.status !== "pending";
        if (outcome === "failed" || outcome.startsWith(REFUSED_OUTCOME_PREFIX) || !left) report.failed++;
        else report.applied++;
        log.warn({ outcome }, "a paid invoice's invoice.paid never came: applied by the payment maintenance");
        continue;
      }
      if (invoice && !NEVER_PAID.has(invoice.status ?? "")) {
        report.waiting++;
        continue;
      }
      const reason = invoice ? `invoice_${invoice.status}` : "invoice_not_found";
      const words = invoice
        ? `The invoice is ${invoice.status} at the payment provider: it was never paid, and nothing was granted for it.`
        : "The payment provider does not know this invoice: it was never paid here, and nothing was granted for it.";
      const marked = await db
        .update(creditPurchase)
        .set({ status: "invoice_unpaid", failureCode: reason, failureMessage: words, updatedAt: sql`now()` })
        .where(and(eq(creditPurchase.id, purchase.id), eq(creditPurchase.status, "pending")))
        .returning({ id: creditPurchase.id });
      if (marked.length > 0) report.unpaid++;
      log.info({ reason }, "pending subscription invoice purchase marked invoice_unpaid");
    } catch (error) {
      report.failed++;
      log.error({ err: error }, "checking a pending subscription invoice failed; the next run asks again");
    }
  }
  return report;
}

/**
 * Runs a paid invoice through the `invoice.paid` handler under `reconcile_<invoice id>` (see above).
 * Returns the handler's outcome, the recorded one when an earlier run applied it, or `failed`.
 */
async function applyPaidInvoice(
  db: Database,
  invoice: Stripe.Invoice,
  provider: PaymentProvider,
): Promise<string> {
  const event = {
    id: `reconcile_${invoice.id}`,
    object: "event",
    type: "invoice.paid",
    api_version: STRIPE_API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: invoice.livemode,
    data: { object: invoice },
  } as unknown as Stripe.Event;
  let outcome: string;
  try {
    outcome = await processWebhookEvent(db, event, { provider: () => provider });
  } catch (error) {
    logger.error({ err: error, invoiceId: invoice.id }, "applying a paid invoice failed");
    return "failed";
  }
  if (outcome !== "duplicate") return outcome;
  const [recorded] = await db
    .select({ outcome: webhookEvent.outcome })
    .from(webhookEvent)
    .where(eq(webhookEvent.id, event.id));
  return recorded?.outcome ?? outcome;
}

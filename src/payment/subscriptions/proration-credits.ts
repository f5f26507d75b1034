import { and, desc, eq, inArray, lte, ne, sum } from "drizzle-orm";
import { invoiceProrationCredit, subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import type { PaidInvoiceLine } from "./invoice-line";

/**
 * The invoice a proration credit line gives money back against: the invoice its
 * `proration_details.credited_items` names (Stripe's own link from a credit to the debit it reverses), else
 * the invoice that paid for the credited time as our grant rows know it: the newest grant (period, slot or
 * upgrade) of the subscription whose period ends where the credited time ends and starts no later. Null when
 * neither is known (nothing of ours paid for that time).
 */
async function creditedInvoiceOf(
  tx: DatabaseOrTransaction,
  line: PaidInvoiceLine,
): Promise<{ invoiceId: string; source: "line" | "period" } | null> {
  // A subscription item's proration, or a pending invoice item's (a change made with create_prorations,
  // billed on the next invoice).
  const parent = line.line.parent;
  const named =
    parent?.subscription_item_details?.proration_details?.credited_items?.invoice ??
    parent?.invoice_item_details?.proration_details?.credited_items?.invoice;
  if (named) return { invoiceId: named, source: "line" };
  const [row] = await tx
    .select({ invoiceId: subscriptionPeriodGrant.invoiceId })
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.subscriptionId, line.subscription.id),
        inArray(subscriptionPeriodGrant.kind, ["period", "slot", "proration"]),
        eq(subscriptionPeriodGrant.periodEnd, line.period.end),
        lte(subscriptionPeriodGrant.periodStart, line.period.start),
        ne(subscriptionPeriodGrant.invoiceId, line.invoice.id),
      ),
    )
    .orderBy(desc(subscriptionPeriodGrant.periodStart))
    .limit(1);
  return row ? { invoiceId: row.invoiceId, source: "period" } : null;
}

/**
 * Records what a paid invoice's proration credit lines (negative lines: the unused time of the price the
 * subscription leaves) gave back against earlier invoices, one invoice_proration_credit row per line, in
 * the invoice's currency's minor units. The money of that unused time went back to the customer as a
 * credit on this invoice, so a refund of the earlier invoice must not pay it out again (issue 10's refund
 * rules; Stripe itself does not stop a refund of an invoice whose time was credited by a proration).
 *
 * Call it in the `invoice.paid` transaction, beside the proration grant (grant-proration-line.ts): the key
 * is the cause (this invoice and its line), inserted ON CONFLICT DO NOTHING, so a repeated, reordered or
 * concurrent delivery records each credit once. A credit line whose credited invoice cannot be told is
 * logged and skipped: the refund cap then stays the invoice's whole amount, as before this record existed.
 * Returns how many rows were written by this call.
 */
export async function recordProrationCredits(
  tx: DatabaseOrTransaction,
  lines: PaidInvoiceLine[],
): Promise<number> {
  let written = 0;
  for (const line of lines) {
    if (line.line.amount >= 0) continue;
    const credited = await creditedInvoiceOf(tx, line);
    if (!credited || credited.invoiceId === line.invoice.id) {
      logger.warn(
        { invoiceId: line.invoice.id, lineId: line.line.id, subscriptionId: line.subscription.id },
        "proration credit of an invoice this app does not know: the refund cap of no invoice is lowered",
      );
      continue;
    }
    const inserted = await tx
      .insert(invoiceProrationCredit)
      .values({
        creditingInvoiceId: line.invoice.id,
        lineId: line.line.id,
        creditedInvoiceId: credited.invoiceId,
        subscriptionId: line.subscription.id,
        amount: -line.line.amount,
        currency: line.line.currency,
        source: credited.source,
      })
      .onConflictDoNothing()
      .returning({ lineId: invoiceProrationCredit.lineId });
    written += inserted.length;
  }
  return written;
}

/**
 * The money later prorations credited back against each of these invoices (minor units of each invoice's
 * currency), by invoice id; invoices with none are absent. What an admin may still refund of a
 * subscription invoice is its amount, less what was refunded, less this.
 */
export async function amountsCreditedByProration(
  db: DatabaseOrTransaction,
  invoiceIds: readonly (string | null)[],
): Promise<Map<string, number>> {
  const ids = [...new Set(invoiceIds.filter((id): id is string => id !== null))];
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({
      invoiceId: invoiceProrationCredit.creditedInvoiceId,
      amount: sum(invoiceProrationCredit.amount),
    })
    .from(invoiceProrationCredit)
    .where(inArray(invoiceProrationCredit.creditedInvoiceId, ids))
    .groupBy(invoiceProrationCredit.creditedInvoiceId);
  return new Map(rows.map((row) => [row.invoiceId, Number(row.amount)]));
}

/**
 * What an admin may still refund of a purchase, in minor units, never below 0: the amount paid, less what
 * was refunded, less what later prorations credited back against its invoice (amountsCreditedByProration).
 * A package purchase has no invoice and nothing credited.
 */
export function refundableAmount(purchase: {
  amount: number;
  amountRefunded: number;
  creditedByProration: number;
}): number {
  return Math.max(0, purchase.amount - purchase.amountRefunded - purchase.creditedByProration);
}

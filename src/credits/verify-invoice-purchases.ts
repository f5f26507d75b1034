import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { sqlRows } from "./sql-rows";
import type { LedgerViolation } from "./verify-ledger";

/**
 * Paid subscription invoices are purchases (src/payment/subscriptions/invoice-purchase.ts), so refunds and
 * disputes can find and take back their credits. Judged from the tables alone:
 *
 * - `invoice_credits_have_purchase`: a granted period, slot or proration whose lot holds `paid` credits
 *   (the invoice took money) belongs to a purchase, and its lot to the same purchase: credits without one
 *   could never be taken back by a refund.
 * - `invoice_purchase_credits`: an invoice purchase's issued credits (`credits_issued`, or all of
 *   `credits`) are what its grant rows have granted, and its grant rows entitle to no more than its
 *   `credits` (a stopped yearly slot keeps none): a refund's share is computed from the issued credits, so
 *   a wrong figure would take too much or too little. A completed purchase of an invoice without yearly
 *   slots (nothing of it can be stopped) records exactly what its rows entitle to, 0 for an invoice that
 *   granted nothing: never a placeholder figure.
 * - `trial_grant_not_purchase`: a trial's grant (kind `trial`, its $0 invoice) belongs to no purchase and
 *   its lot holds `promotional` credits: no money was taken and there is no PaymentIntent, so nothing of a
 *   trial may look refundable.
 */
export async function verifyInvoicePurchases(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const violations: LedgerViolation[] = [];
  for (const row of sqlRows<{ invoice_id: string; user_id: string; problem: string }>(
    await db.execute(
      sql`SELECT g.invoice_id, g.user_id,
               CASE WHEN g.purchase_id IS NULL THEN 'paid credits without a purchase'
                    ELSE 'lot belongs to purchase ' || coalesce(l.purchase_id::text, 'none') || ', row to ' || g.purchase_id END AS problem
        FROM subscription_period_grant g
        JOIN credit_lot l ON l.id = g.lot_id
        WHERE g.status = 'granted' AND l.category = 'paid'
          AND (g.purchase_id IS NULL OR l.purchase_id IS DISTINCT FROM g.purchase_id)`,
    ),
  )) {
    violations.push({
      check: "invoice_credits_have_purchase",
      userId: row.user_id,
      detail: `invoice ${row.invoice_id}: ${row.problem}`,
    });
  }
  for (const row of sqlRows<{
    id: string;
    user_id: string;
    credits: number;
    issued: number;
    entitled: string;
    granted: string;
    exact: boolean;
  }>(
    await db.execute(
      sql`SELECT p.id, p.user_id, p.credits, coalesce(p.credits_issued, p.credits) AS issued,
               coalesce(sum(g.credits) FILTER (WHERE g.status IN ('granted', 'scheduled')), 0) AS entitled,
               coalesce(sum(g.credits) FILTER (WHERE g.status = 'granted'), 0) AS granted,
               p.status = 'succeeded' AND NOT coalesce(bool_or(g.kind = 'slot'), false) AS exact
        FROM credit_purchase p
        LEFT JOIN subscription_period_grant g ON g.invoice_id = p.invoice_id
        WHERE p.kind = 'subscription_invoice'
        GROUP BY p.id`,
    ),
  )) {
    // A stopped slot keeps no credits, so the grants may entitle to less than was sold, never more.
    if (
      Number(row.entitled) > Number(row.credits) ||
      Number(row.granted) !== Number(row.issued) ||
      (row.exact && Number(row.entitled) !== Number(row.credits))
    )
      violations.push({
        check: "invoice_purchase_credits",
        userId: row.user_id,
        detail: `purchase ${row.id}: ${row.credits} credits (${row.issued} issued), its grants ${row.entitled} (${row.granted} granted)`,
      });
  }
  for (const row of sqlRows<{ invoice_id: string; user_id: string; problem: string }>(
    await db.execute(
      sql`SELECT g.invoice_id, g.user_id,
               CASE WHEN g.purchase_id IS NOT NULL THEN 'trial grant belongs to purchase ' || g.purchase_id
                    WHEN l.purchase_id IS NOT NULL THEN 'trial lot belongs to purchase ' || l.purchase_id
                    ELSE 'trial lot holds ' || l.category || ' credits' END AS problem
        FROM subscription_period_grant g
        LEFT JOIN credit_lot l ON l.id = g.lot_id
        WHERE g.kind = 'trial'
          AND (g.purchase_id IS NOT NULL OR l.purchase_id IS NOT NULL OR l.category IS DISTINCT FROM 'promotional')
          AND (g.lot_id IS NOT NULL OR g.purchase_id IS NOT NULL)`,
    ),
  )) {
    violations.push({
      check: "trial_grant_not_purchase",
      userId: row.user_id,
      detail: `invoice ${row.invoice_id}: ${row.problem}`,
    });
  }
  return violations;
}

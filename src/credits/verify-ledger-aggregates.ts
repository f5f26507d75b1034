import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import type { LedgerViolation } from "./verify-ledger";

type Mismatch = { key: string; expected: string | null; actual: string | null };

/**
 * Each query recomputes one aggregate (its sums plus its deltas, src/credits/sql/ledger-aggregates.sql) from
 * the rows it summarizes and returns every key where the two disagree, as text. A missing row and a row of zeros are the same
 * (an account's deletion leaves zeros behind).
 */
const CHECKS: { check: string; what: string; query: ReturnType<typeof sql> }[] = [
  {
    check: "daily_totals_match_entries",
    what: "daily entry totals (credits in/out, debt change, entries)",
    query: sql`WITH expected AS (
                 SELECT (created_at AT TIME ZONE 'UTC')::date AS day, type AS entry_type,
                        sum(greatest(amount, 0)) AS credits_in, sum(greatest(-amount, 0)) AS credits_out,
                        sum(debt_change) AS debt_change, count(*) AS entries
                 FROM credit_entry GROUP BY 1, 2),
               actual AS (
                 SELECT day, entry_type, sum(credits_in) AS credits_in, sum(credits_out) AS credits_out,
                        sum(debt_change) AS debt_change, sum(entries) AS entries
                 FROM (SELECT day, entry_type, credits_in, credits_out, debt_change, entries FROM credit_daily_total
                       UNION ALL
                       SELECT day, entry_type, credits_in, credits_out, debt_change, entries FROM credit_daily_total_delta) u
                 GROUP BY day, entry_type
                 HAVING sum(credits_in) <> 0 OR sum(credits_out) <> 0 OR sum(debt_change) <> 0 OR sum(entries) <> 0)
               SELECT day::text || ' ' || entry_type AS key,
                      e.credits_in || '/' || e.credits_out || '/' || e.debt_change || '/' || e.entries AS expected,
                      a.credits_in || '/' || a.credits_out || '/' || a.debt_change || '/' || a.entries AS actual
               FROM expected e FULL JOIN actual a USING (day, entry_type)
               WHERE (e.credits_in, e.credits_out, e.debt_change, e.entries)
                     IS DISTINCT FROM (a.credits_in, a.credits_out, a.debt_change, a.entries)
               ORDER BY 1 LIMIT 100`,
  },
  {
    check: "outstanding_matches_lots",
    what: "credits left in lots by category and source",
    query: sql`WITH expected AS (
                 SELECT category, source, sum(remaining) AS remaining
                 FROM credit_lot GROUP BY 1, 2 HAVING sum(remaining) <> 0),
               actual AS (
                 SELECT category, source, sum(remaining) AS remaining
                 FROM (SELECT category, source, remaining FROM credit_outstanding
                       UNION ALL SELECT category, source, remaining FROM credit_outstanding_delta) u
                 GROUP BY 1, 2 HAVING sum(remaining) <> 0)
               SELECT category || ' ' || source AS key,
                      e.remaining::text AS expected, a.remaining::text AS actual
               FROM expected e FULL JOIN actual a USING (category, source)
               WHERE e.remaining IS DISTINCT FROM a.remaining ORDER BY 1 LIMIT 100`,
  },
  {
    check: "account_totals_match_accounts",
    what: "the sums of balance/held/debt",
    query: sql`WITH expected AS (
                 SELECT coalesce(sum(balance), 0) AS balance, coalesce(sum(held), 0) AS held,
                        coalesce(sum(debt), 0) AS debt
                 FROM credit_account),
               actual AS (
                 SELECT coalesce(sum(balance), 0) AS balance, coalesce(sum(held), 0) AS held,
                        coalesce(sum(debt), 0) AS debt
                 FROM (SELECT balance, held, debt FROM credit_account_total
                       UNION ALL SELECT balance, held, debt FROM credit_account_total_delta) u)
               SELECT 'all accounts' AS key,
                      e.balance || '/' || e.held || '/' || e.debt AS expected,
                      a.balance || '/' || a.held || '/' || a.debt AS actual
               FROM expected e, actual a
               WHERE (e.balance, e.held, e.debt) IS DISTINCT FROM (a.balance, a.held, a.debt)`,
  },
  {
    check: "revenue_matches_purchases",
    what: "daily revenue of succeeded purchases (count/amount/refunded)",
    query: sql`WITH expected AS (
                 SELECT (created_at AT TIME ZONE 'UTC')::date AS day, kind, package_id, currency,
                        count(*) AS purchases, sum(amount) AS amount, sum(amount_refunded) AS refunded
                 FROM credit_purchase WHERE status = 'succeeded' GROUP BY 1, 2, 3, 4),
               actual AS (
                 SELECT day, kind, package_id, currency, sum(purchases) AS purchases, sum(amount) AS amount,
                        sum(refunded) AS refunded
                 FROM (SELECT day, kind, package_id, currency, purchases, amount, refunded FROM purchase_daily_revenue
                       UNION ALL
                       SELECT day, kind, package_id, currency, purchases, amount, refunded FROM purchase_daily_revenue_delta) u
                 GROUP BY 1, 2, 3, 4 HAVING sum(purchases) <> 0 OR sum(amount) <> 0 OR sum(refunded) <> 0)
               SELECT day::text || ' ' || kind || ' ' || package_id || ' ' || currency AS key,
                      e.purchases || '/' || e.amount || '/' || e.refunded AS expected,
                      a.purchases || '/' || a.amount || '/' || a.refunded AS actual
               FROM expected e FULL JOIN actual a USING (day, kind, package_id, currency)
               WHERE (e.purchases, e.amount, e.refunded) IS DISTINCT FROM (a.purchases, a.amount, a.refunded)
               ORDER BY 1 LIMIT 100`,
  },
];

/**
 * `verify`: the overview's aggregates (kept by triggers, src/credits/sql/ledger-aggregates.sql) equal a
 * recomputation from the ledger's own rows, so a trigger left out, disabled or an aggregate edited by hand is
 * caught rather than shown to operators as the liability. Each disagreeing key (up to 100 per table) is one
 * violation, saying what the ledger says and what the aggregate says. Reads every entry: for `verify`, never
 * for a page view.
 */
export async function verifyLedgerAggregates(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const violations: LedgerViolation[] = [];
  for (const { check, what, query } of CHECKS) {
    const result = (await db.execute(query)) as unknown as { rows: Mismatch[] };
    for (const row of result.rows) {
      violations.push({
        check,
        detail: `${what} for ${row.key}: the ledger says ${row.expected ?? "nothing"}, the aggregate ${row.actual ?? "nothing"}`,
      });
    }
  }
  return violations;
}

import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import type { LedgerViolation } from "./verify-ledger";

async function rows<T>(db: DatabaseOrTransaction, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/**
 * While a user owes credits, nothing is spendable: every path that gives credits back repays the debt
 * first (creditkit_repay_debt), so an account with debt and unexpired credits in its lots means refunded
 * credits can be spent again (a hold released after a refund, before that rule).
 */
export async function checkDebtLeavesNothingSpendable(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const found = await rows<{ user_id: string; debt: string; spendable: string }>(
    db,
    sql`SELECT a.user_id, a.debt, s.spendable FROM credit_account a
        CROSS JOIN LATERAL (
          SELECT coalesce(sum(l.remaining), 0) AS spendable FROM credit_lot l
          WHERE l.user_id = a.user_id AND l.spendable AND (l.expires_at IS NULL OR l.expires_at > now())) s
        WHERE a.debt > 0 AND s.spendable > 0`,
  );
  return found.map((row) => ({
    check: "debt_leaves_nothing_spendable",
    userId: row.user_id,
    detail: `owes ${row.debt} credits while ${row.spendable} are spendable`,
  }));
}

/**
 * No entry's balance-after reflects credits that had already expired: the first entry of a user written at
 * or after a lot's expiry (other than expiry entries themselves) must find that lot's credits, free or held,
 * already expired (or spent) by earlier entries. A lot's credits still alive before an entry are its
 * credits less what earlier entries allocated from it (held credits are not allocated until captured or
 * expired, so they count as alive). Catches a capture that spent credits whose lot had expired, and any
 * mutation that skipped the expiry due before it.
 */
export async function checkNoEntryAfterExpiry(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const found = await rows<{
    user_id: string;
    lot_id: string;
    entry_id: string;
    type: string;
    alive: string;
  }>(
    db,
    // Only lots that expired before the newest entry can have an entry after their expiry (entries may carry
    // an explicit time in tests, hence not simply now()).
    sql`WITH horizon AS (SELECT greatest(now(), max(e.created_at)) AS at FROM credit_entry e)
        SELECT l.user_id, l.id AS lot_id, first.id AS entry_id, first.type,
               l.credits - coalesce((SELECT sum(al.amount) FROM credit_allocation al
                                     WHERE al.lot_id = l.id AND al.entry_id < first.id), 0) AS alive
        FROM credit_lot l
        CROSS JOIN LATERAL (
          SELECT e.id, e.type FROM credit_entry e
          WHERE e.user_id = l.user_id AND e.id > coalesce(l.grant_entry_id, 0)
            AND e.created_at >= l.expires_at AND e.type <> 'expire'
            -- A dispute reversal past its expiry repays debt from its own lot before the rest expires.
            AND NOT (e.type = 'debt_repayment' AND l.source = 'dispute_reversal'
                     AND e.idempotency_key = (SELECT g.idempotency_key FROM credit_entry g WHERE g.id = l.grant_entry_id) || ':debt-repayment')
          ORDER BY e.id LIMIT 1) first
        WHERE l.expires_at IS NOT NULL AND l.expires_at <= (SELECT at FROM horizon)`,
  );
  return found
    .filter((row) => Number(row.alive) > 0)
    .map((row) => ({
      check: "no_entry_after_expiry",
      userId: row.user_id,
      detail: `entry ${row.entry_id} (${row.type}) was written after lot ${row.lot_id} expired, while ${row.alive} of its credits were not yet expired`,
    }));
}

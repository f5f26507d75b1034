import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { sqlRows } from "./sql-rows";

export type Balance = {
  /** Every credit the user owns, including those reserved by open holds. */
  balance: number;
  /** Reserved by open holds: not available to other spends. */
  held: number;
  /** What a spend or a new hold can use now. */
  available: number;
  /** Owed after a refund or dispute took back credits that had already been spent. */
  debt: number;
};

/**
 * Reads one account row and, only when it could matter, the user's lots that expired (by the database's
 * clock) before any mutation or sweep wrote their expiry: free credits in such lots, and credits open holds
 * reserve in them (held credits expire with their lot). Both are excluded, so the balance reported never
 * includes an expired credit. One statement; it never reads the history, so its cost does not grow with
 * the number of entries. `now` is for tests only.
 */
export async function getBalance(db: DatabaseOrTransaction, userId: string, now?: Date): Promise<Balance> {
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
  const [row] = sqlRows<{
    balance: string | number;
    held: string | number;
    debt: string | number;
    expired_free: string | number;
    expired_held: string | number;
  }>(
    await db.execute(sql`
      SELECT a.balance, a.held, a.debt,
             CASE WHEN a.balance > a.held THEN
               (SELECT coalesce(sum(l.remaining), 0) FROM credit_lot l
                WHERE l.user_id = a.user_id AND l.spendable AND l.expires_at <= ${at})
             ELSE 0 END AS expired_free,
             CASE WHEN a.held > 0 THEN
               (SELECT coalesce(sum(ha.amount), 0) FROM credit_hold h
                  JOIN credit_hold_allocation ha ON ha.hold_id = h.id
                  JOIN credit_lot l ON l.id = ha.lot_id
                WHERE h.user_id = a.user_id AND h.status = 'open' AND l.expires_at <= ${at})
             ELSE 0 END AS expired_held
      FROM credit_account a WHERE a.user_id = ${userId}`),
  );
  if (!row) return { balance: 0, held: 0, available: 0, debt: 0 };
  const held = Number(row.held) - Number(row.expired_held);
  const balance = Number(row.balance) - Number(row.expired_free) - Number(row.expired_held);
  return { balance, held, available: balance - held, debt: Number(row.debt) };
}

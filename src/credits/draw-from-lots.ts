import { eq, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { sqlRows } from "./sql-rows";

export type LotDraw = { lotId: string; amount: number };

/**
 * Takes `amount` credits out of the user's spendable lots: soonest-expiring first (credits that would be
 * lost soonest are used first), never-expiring last, oldest first among equals. The caller holds the
 * account lock and has checked that enough is available. The order lives in one place, the
 * `creditkit_draw_from_lots` database function (migration 0001_ledger_functions), shared with spends.
 */
export async function drawFromLots(
  tx: DatabaseOrTransaction,
  userId: string,
  amount: number,
  now: Date,
): Promise<LotDraw[]> {
  const rows = sqlRows<{ lot_id: string; amount: string | number }>(
    await tx.execute(
      sql`SELECT lot_id, amount FROM creditkit_draw_from_lots(${userId}, ${amount}, ${now.toISOString()}::timestamptz)`,
    ),
  );
  return rows.map((row) => ({ lotId: row.lot_id, amount: Number(row.amount) }));
}

/** Puts credits back into the lots they were drawn from (a released or partly captured hold). */
export async function returnToLots(tx: DatabaseOrTransaction, draws: readonly LotDraw[]): Promise<void> {
  for (const draw of draws) {
    if (draw.amount <= 0) continue;
    await tx
      .update(creditLot)
      .set({ remaining: sql`${creditLot.remaining} + ${draw.amount}` })
      .where(eq(creditLot.id, draw.lotId));
  }
}

import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { sqlRows } from "./sql-rows";

export type LotDraw = { lotId: string; amount: number };

/**
 * Takes `amount` credits out of the user's spendable lots: soonest-expiring first (credits that would be
 * lost soonest are used first), never-expiring last, oldest first among equals. The caller holds the
 * account lock and has checked that enough is available. The order lives in one place, the
 * `creditkit_draw_from_lots` database function (src/credits/sql/draw-from-lots.sql), shared
 * with spends. Expired lots (by the database's clock) are never drawn from.
 */
export async function drawFromLots(
  tx: DatabaseOrTransaction,
  userId: string,
  amount: number,
  now?: Date,
): Promise<LotDraw[]> {
  const rows = sqlRows<{ lot_id: string; amount: string | number }>(
    await tx.execute(
      sql`SELECT lot_id, amount FROM creditkit_draw_from_lots(${userId}, ${amount}, ${clockParam(now)}::timestamptz)`,
    ),
  );
  return rows.map((row) => ({ lotId: row.lot_id, amount: Number(row.amount) }));
}

import { sql } from "drizzle-orm";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { settlePurchaseClawback } from "./settle-purchase-clawback";

/**
 * Settles again every purchase whose credits taken back plus those that expired unused from its own lots
 * exceed its credits. That happens when a refund or dispute found the purchase's credits reserved by a hold
 * (they could not be taken, so the customer owes them as debt) and the hold's credits then expired with
 * their lot: the customer lost them to expiry, so owing them as well would take them twice. Settling caps
 * the clawback at what had not expired (src/credits/purchase-clawback-rules.ts) and gives the difference
 * back, which repays that debt. Run by the sweep after it expires lots; each purchase is settled in a
 * transaction of its own, under its row lock, so a webhook of the same purchase waits or goes first.
 * `now` is for tests only (production: the database's clock).
 */
export async function settleExpiredClawbacks(db: Database, now?: Date): Promise<number> {
  const result = (await db.execute(sql`
    SELECT p.id FROM credit_purchase p
    WHERE p.clawed_back_credits > 0 AND p.status = 'succeeded'
      AND p.clawed_back_credits + (
        SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
          JOIN credit_entry e ON e.id = al.entry_id AND e.type = 'expire'
          JOIN credit_lot l ON l.id = al.lot_id
        WHERE l.purchase_id = p.id) > p.credits`)) as unknown as { rows: { id: string }[] };
  for (const row of result.rows) {
    const outcome = await db.transaction((tx) => settlePurchaseClawback(tx, row.id, now));
    logger.info({ purchaseId: row.id, outcome }, "clawback settled again after its credits expired");
  }
  return result.rows.length;
}

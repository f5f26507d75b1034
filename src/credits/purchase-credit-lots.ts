import { type SQL, sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { expireDueLots } from "./expire-due-lots";
import { lockAccount } from "./lock-account";
import { sqlRows } from "./sql-rows";

export type PurchaseLots = {
  /**
   * Credits that expired unused from the purchase's own lots (its lot and its reinstatements' lots), less
   * those a subscription's rollover carried on (they expired from one lot and came back in another, so they
   * have not left the account), until they expire from the carry too (purchaseExpiredUnusedSql).
   */
  expiredUnused: number;
  /**
   * The expiry of the purchase's own lot (null: its credits never expire, or it was never granted). A
   * subscription invoice's credits may sit in several lots (a yearly plan's slots): the latest expiry.
   */
  expiresAt: Date | null;
};

/**
 * SQL for the credits of a purchase (`purchaseId`, an SQL expression naming its id) that expired unused: the
 * one formula the clawback and `verify` share.
 * - Expired from the lots that name the purchase (its own lot, its reinstatements', and a carry made before
 *   carries were shared), less the credits of such a carry: they expired from one lot and came back in
 *   another, so they have not left the account.
 * - For each carry that holds a share of the purchase's credits (subscription_rollover_share: a period whose
 *   credits came from several invoices, carried as one lot), the share less the share's part of what expired
 *   of the carry lot (proportional, rounded down): the share did not leave the account until it expired.
 */
export function purchaseExpiredUnusedSql(purchaseId: SQL): SQL {
  return sql`(
    (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
       JOIN credit_entry x ON x.id = al.entry_id AND x.type = 'expire'
       JOIN credit_lot l ON l.id = al.lot_id
     WHERE l.purchase_id = ${purchaseId})
    - (SELECT coalesce(sum(l.credits), 0) FROM credit_lot l
       WHERE l.purchase_id = ${purchaseId} AND l.source = 'rollover')
    + (SELECT coalesce(sum(
         (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
            JOIN credit_entry x ON x.id = al.entry_id AND x.type = 'expire'
          WHERE al.lot_id = s.lot_id) * s.credits / cl.credits - s.credits), 0)
       FROM subscription_rollover_share s JOIN credit_lot cl ON cl.id = s.lot_id
       WHERE s.purchase_id = ${purchaseId}))`;
}

/**
 * What became of a purchase's own credits, as a clawback or reinstatement needs it: how many expired unused
 * (those left the account already, so a clawback must not take them again) and when the purchase's credits
 * expire (credits given back after a won dispute keep that expiry). Expires the user's due lots first,
 * under the account's row lock, so credits whose time has passed (by the database's clock) count as expired
 * even when nothing has written their expiry yet. Runs in the caller's transaction.
 */
export async function purchaseCreditLots(
  tx: DatabaseOrTransaction,
  purchase: { id: string; userId: string },
  /** Tests only: production judges expiry by the database's clock. */
  now?: Date,
): Promise<PurchaseLots> {
  const locked = await lockAccount(tx, purchase.userId);
  await expireDueLots(tx, purchase.userId, locked, now);
  const [row] = sqlRows<{ expired: string | number | null; expires_at: string | Date | null }>(
    await tx.execute(sql`
      SELECT ${purchaseExpiredUnusedSql(sql`${purchase.id}::uuid`)} AS expired,
        (SELECT l.expires_at FROM credit_lot l
         WHERE l.purchase_id = ${purchase.id} AND l.source IN ('purchase', 'subscription')
         ORDER BY l.expires_at DESC NULLS FIRST LIMIT 1) AS expires_at`),
  );
  return {
    expiredUnused: Number(row?.expired ?? 0),
    expiresAt: row?.expires_at ? new Date(row.expires_at) : null,
  };
}

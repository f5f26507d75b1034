import { sql } from "drizzle-orm";
import { sqlRows } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * The credit lots that belong to one subscription (our id), as ids of credit_lot: the lots its paid
 * invoices granted (subscription_period_grant: monthly periods, yearly slots, an upgrade's proration, a
 * trial), the carries of its rollovers (subscription_rollover), and any lot of a purchase that is one of
 * its invoices (credit_purchase.subscription_id: credits a won dispute gave back). Nothing else: a
 * package's, a gift's, a grant's or the Free plan's lots are never a subscription's.
 *
 * Read-only; the caller decides what to do with them (the sandbox's test clock expires only these,
 * advance-sandbox-subscription.ts). Lots of every state are listed, spent or not.
 */
export async function subscriptionLotIds(
  tx: DatabaseOrTransaction,
  subscriptionId: string,
): Promise<string[]> {
  const found = sqlRows<{ id: string }>(
    await tx.execute(sql`
      SELECT g.lot_id AS id FROM subscription_period_grant g
        WHERE g.subscription_id = ${subscriptionId} AND g.lot_id IS NOT NULL
      UNION
      SELECT r.lot_id FROM subscription_rollover r
        WHERE r.subscription_id = ${subscriptionId} AND r.lot_id IS NOT NULL
      UNION
      SELECT l.id FROM credit_purchase p JOIN credit_lot l ON l.purchase_id = p.id
        WHERE p.subscription_id = ${subscriptionId}`),
  );
  return found.map((row) => row.id);
}

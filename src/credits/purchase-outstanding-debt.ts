import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { sqlRows } from "./sql-rows";

/**
 * The debt a purchase's own clawbacks left that its own reinstatements have not cancelled yet, in credits
 * (an integer >= 0), from the ledger alone: the `debt_change` of its refund and dispute entries (written
 * with the purchase's PaymentIntent as `reference`, src/payment/settle-purchase-clawback.ts) minus the
 * debt repaid by its `dispute_reversal` grants (their `<key>:debt-repayment` entries). Credits that come
 * back after their expiry may cancel this much debt and no more (creditkit_add_credits,
 * p_expired_repay_limit): expired credits are worth nothing, so they must not pay what another purchase's
 * refund left. Debt that other grants repaid since is not subtracted: the account's debt bounds the
 * repayment anyway. Run under the account's row lock (the caller's transaction) so the answer stays true
 * until the grant.
 */
export async function purchaseOutstandingDebt(
  tx: DatabaseOrTransaction,
  purchase: { userId: string; paymentIntentId: string },
): Promise<number> {
  const [row] = sqlRows<{ added: string | number; cancelled: string | number }>(
    await tx.execute(sql`
      SELECT
        (SELECT coalesce(sum(e.debt_change), 0) FROM credit_entry e
         WHERE e.user_id = ${purchase.userId} AND e.reference = ${purchase.paymentIntentId}
           AND e.type IN ('refund', 'dispute')) AS added,
        (SELECT coalesce(-sum(r.debt_change), 0) FROM credit_entry g
           JOIN credit_entry r ON r.user_id = g.user_id AND r.idempotency_key = g.idempotency_key || ':debt-repayment'
         WHERE g.user_id = ${purchase.userId} AND g.reference = ${purchase.paymentIntentId}
           AND g.type = 'dispute_reversal') AS cancelled`),
  );
  return Math.max(0, Number(row?.added ?? 0) - Number(row?.cancelled ?? 0));
}

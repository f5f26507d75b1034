import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import {
  clawbackTarget,
  disputeFundsWithdrawn,
  type RefundFact,
  refundedAmount,
} from "./purchase-clawback-rules";

type Violation = { check: string; userId?: string; detail: string };

type PurchaseFacts = {
  id: string;
  user_id: string;
  status: string;
  credits: number;
  amount: number;
  amount_refunded: number;
  disputed: boolean;
  charge_amount_refunded: number;
  charge_refunded_at: string | Date | null;
  dispute_status: string | null;
  dispute_event_type: string | null;
  refunds: { amount: number; status: string; statusAt: string }[] | string | null;
  taken: string | number;
};

/**
 * For every purchase, the credits its clawback and reinstatement entries took back on balance equal what
 * its final facts imply: the refunded share of the price, recomputed from the charge's refunded amount and
 * each refund's latest status, or everything while the latest dispute status has the funds withdrawn
 * (src/credits/purchase-clawback-rules.ts). A purchase not (yet) granted has nothing taken back. Also
 * checks that the refunded amount and the dispute flag stored on the purchase are the ones its facts imply.
 */
export async function verifyPurchaseClawbacks(db: DatabaseOrTransaction): Promise<Violation[]> {
  const result = (await db.execute(sql`
    SELECT p.id, p.user_id, p.status, p.credits, p.amount, p.amount_refunded, p.disputed,
           p.charge_amount_refunded, p.charge_refunded_at, p.dispute_status, p.dispute_event_type,
           (SELECT json_agg(json_build_object('amount', r.amount, 'status', r.status, 'statusAt', r.status_at))
              FROM credit_refund r WHERE r.purchase_id = p.id) AS refunds,
           coalesce((SELECT sum(CASE WHEN e.type = 'dispute_reversal' THEN -e.amount ELSE e.debt_change - e.amount END)
                       FROM credit_entry e
                      WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
                        AND e.type IN ('refund', 'dispute', 'dispute_reversal')), 0) AS taken
      FROM credit_purchase p
     WHERE p.payment_intent_id IS NOT NULL`)) as unknown as { rows: PurchaseFacts[] };

  const violations: Violation[] = [];
  for (const row of result.rows) {
    const rawRefunds = typeof row.refunds === "string" ? JSON.parse(row.refunds) : (row.refunds ?? []);
    const refunds: RefundFact[] = (rawRefunds as { amount: number; status: string; statusAt: string }[]).map(
      (refund) => ({
        amount: Number(refund.amount),
        status: refund.status,
        statusAt: new Date(refund.statusAt),
      }),
    );
    const refunded = refundedAmount({
      price: Number(row.amount),
      chargeAmountRefunded: Number(row.charge_amount_refunded),
      chargeRefundedAt: row.charge_refunded_at === null ? null : new Date(row.charge_refunded_at),
      refunds,
    });
    const withdrawn =
      row.dispute_status && row.dispute_event_type
        ? (disputeFundsWithdrawn(row.dispute_status, row.dispute_event_type) ?? false)
        : false;
    const implied =
      row.status === "succeeded"
        ? clawbackTarget({
            credits: Number(row.credits),
            amount: Number(row.amount),
            amountRefunded: refunded,
            disputed: withdrawn,
          })
        : 0;
    const taken = Number(row.taken);
    const where = `purchase ${row.id}`;
    if (taken !== implied) {
      violations.push({
        check: "purchase_clawback_matches_facts",
        userId: row.user_id,
        detail: `${where}: ${taken} credits taken back, but refunded ${refunded} of ${row.amount} and funds ${withdrawn ? "withdrawn" : "not withdrawn"} by a dispute imply ${implied}`,
      });
    }
    if (refunded !== Number(row.amount_refunded) || withdrawn !== row.disputed) {
      violations.push({
        check: "purchase_facts_recorded",
        userId: row.user_id,
        detail: `${where}: records refunded ${row.amount_refunded} and disputed ${row.disputed}, its facts say ${refunded} and ${withdrawn}`,
      });
    }
  }
  return violations;
}

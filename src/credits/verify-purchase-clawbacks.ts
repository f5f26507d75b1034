import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import {
  clawbackTarget,
  type DisputeRecord,
  disputedAmount,
  type RefundFact,
  refundedAmount,
} from "./purchase-clawback-rules";
import { purchaseExpiredUnusedSql } from "./purchase-credit-lots";

type Violation = { check: string; userId?: string; detail: string };

type Json<T> = T[] | string | null;

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
  refunds: Json<{
    amount: number;
    status: string;
    statusAt: string;
    refundCreatedAt: string | null;
    failedAt: string | null;
  }>;
  disputes: Json<{ amount: number; status: string; eventType: string; at: string }>;
  expired: string | number;
  taken: string | number;
};

function parseJson<T>(value: Json<T>): T[] {
  return typeof value === "string" ? (JSON.parse(value) as T[]) : (value ?? []);
}

const dateOrNull = (value: string | null) => (value === null ? null : new Date(value));

/**
 * For every purchase, the credits its clawback and reinstatement entries took back on balance equal what
 * its final facts imply (src/credits/purchase-clawback-rules.ts): the share of the price refunded
 * (recomputed from the charge's refunded amount and each refund's latest status) or withdrawn by disputes
 * (each dispute's latest status), capped at the credits that had not expired unused from the purchase's
 * own lots. A purchase not (yet) granted has nothing taken back. Also checks that the refunded amount and
 * the dispute flag stored on the purchase are the ones its facts imply.
 *
 * A lot whose time has passed but whose expiry nobody has written yet counts as not expired here; the
 * purchase's next event writes it first, so until then the stored figures stay consistent with each other.
 */
export async function verifyPurchaseClawbacks(db: DatabaseOrTransaction): Promise<Violation[]> {
  const result = (await db.execute(sql`
    SELECT p.id, p.user_id, p.status, coalesce(p.credits_issued, p.credits) AS credits, p.amount, p.amount_refunded, p.disputed,
           p.charge_amount_refunded, p.charge_refunded_at,
           (SELECT json_agg(json_build_object('amount', r.amount, 'status', r.status, 'statusAt', r.status_at,
                                              'refundCreatedAt', r.refund_created_at, 'failedAt', r.failed_at))
              FROM credit_refund r WHERE r.purchase_id = p.id) AS refunds,
           (SELECT json_agg(json_build_object('amount', d.amount, 'status', d.status, 'eventType', d.event_type,
                                              'at', d.status_at))
              FROM credit_dispute d WHERE d.purchase_id = p.id) AS disputes,
           -- Credits a rollover carried on did not leave the account (src/credits/purchase-credit-lots.ts).
           ${purchaseExpiredUnusedSql(sql.raw("p.id"))} AS expired,
           coalesce((SELECT sum(CASE WHEN e.type = 'dispute_reversal' THEN -e.amount ELSE e.debt_change - e.amount END)
                       FROM credit_entry e
                      WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
                        AND e.type IN ('refund', 'dispute', 'dispute_reversal')), 0) AS taken
      FROM credit_purchase p
     WHERE p.payment_intent_id IS NOT NULL`)) as unknown as { rows: PurchaseFacts[] };

  const violations: Violation[] = [];
  for (const row of result.rows) {
    const refunds: RefundFact[] = parseJson(row.refunds).map((refund) => ({
      amount: Number(refund.amount),
      status: refund.status,
      statusAt: new Date(refund.statusAt),
      refundCreatedAt: dateOrNull(refund.refundCreatedAt),
      failedAt: dateOrNull(refund.failedAt),
    }));
    const disputes: DisputeRecord[] = parseJson(row.disputes).map((dispute) => ({
      amount: Number(dispute.amount),
      status: dispute.status,
      eventType: dispute.eventType,
      at: new Date(dispute.at),
    }));
    const refunded = refundedAmount({
      price: Number(row.amount),
      chargeAmountRefunded: Number(row.charge_amount_refunded),
      chargeRefundedAt: row.charge_refunded_at === null ? null : new Date(row.charge_refunded_at),
      refunds,
    });
    const disputed = disputedAmount(disputes);
    const expired = Number(row.expired);
    const implied =
      row.status === "succeeded"
        ? clawbackTarget({
            credits: Number(row.credits),
            amount: Number(row.amount),
            amountRefunded: refunded,
            amountDisputed: disputed,
            expiredUnused: expired,
          })
        : 0;
    const taken = Number(row.taken);
    const where = `purchase ${row.id}`;
    if (taken !== implied) {
      violations.push({
        check: "purchase_clawback_matches_facts",
        userId: row.user_id,
        detail: `${where}: ${taken} credits taken back, but refunded ${refunded} and withdrawn by disputes ${disputed} of ${row.amount}, with ${expired} credits expired unused, imply ${implied}`,
      });
    }
    if (refunded !== Number(row.amount_refunded) || disputed > 0 !== row.disputed) {
      violations.push({
        check: "purchase_facts_recorded",
        userId: row.user_id,
        detail: `${where}: records refunded ${row.amount_refunded} and disputed ${row.disputed}, its facts say ${refunded} and ${disputed > 0}`,
      });
    }
  }
  return violations;
}

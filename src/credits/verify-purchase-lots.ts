import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { purchaseExpiredUnusedSql } from "./purchase-credit-lots";
import type { LedgerViolation } from "./verify-ledger";

async function rows<T>(db: DatabaseOrTransaction, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/**
 * A purchase's credits leave the account at most once: those taken back by refunds and disputes (net of
 * reinstatements) plus those that expired unused from the purchase's own lots never exceed its credits.
 * More means a clawback took credits that had already expired, again, from the customer's other credits
 * or as debt (src/credits/purchase-clawback-rules.ts, clawbackTarget). Judged from the ledger alone,
 * independently of the rules that decide the target.
 */
export async function checkPurchaseCreditsLeaveOnce(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const found = await rows<{ id: string; user_id: string; credits: number; taken: string; expired: string }>(
    db,
    sql`SELECT p.id, p.user_id, coalesce(p.credits_issued, p.credits) AS credits, t.taken, x.expired FROM credit_purchase p
        CROSS JOIN LATERAL (
          SELECT coalesce(sum(CASE WHEN e.type = 'dispute_reversal' THEN -e.amount ELSE e.debt_change - e.amount END), 0) AS taken
          FROM credit_entry e
          WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
            AND e.type IN ('refund', 'dispute', 'dispute_reversal')) t
        CROSS JOIN LATERAL (
          -- Credits a rollover carried on did not leave the account (purchase-credit-lots.ts).
          SELECT ${purchaseExpiredUnusedSql(sql.raw("p.id"))} AS expired) x
        WHERE p.payment_intent_id IS NOT NULL AND t.taken + x.expired > coalesce(p.credits_issued, p.credits)`,
  );
  return found.map((row) => ({
    check: "purchase_credits_leave_once",
    userId: row.user_id,
    detail: `purchase ${row.id}: ${row.taken} credits taken back and ${row.expired} expired unused, of ${row.credits}`,
  }));
}

/**
 * Credits given back after a won dispute are the purchase's own credits coming back: their lot expires
 * when the purchase's lot does (never later, and not never), so a dispute cannot turn credits that expire
 * into credits that do not. Judged against the purchase's lots that existed when the credits were given
 * back (settle-purchase-clawback.ts reads them then): a yearly invoice's later monthly slots come after.
 */
export async function checkReinstatedCreditsKeepExpiry(
  db: DatabaseOrTransaction,
): Promise<LedgerViolation[]> {
  const found = await rows<{
    user_id: string;
    lot_id: string;
    purchase_id: string;
    expires_at: string | null;
    purchase_expires_at: string | null;
  }>(
    db,
    sql`SELECT r.user_id, r.id AS lot_id, r.purchase_id, r.expires_at, o.expires_at AS purchase_expires_at
        FROM credit_lot r
        JOIN LATERAL (
          -- The purchase's own credits: a package's lot, or a subscription invoice's lots (latest expiry),
          -- as they stood when the credits were given back: a yearly invoice's later months, issued after
          -- the dispute was won, are not the credits it gave back.
          SELECT o.expires_at FROM credit_lot o
          WHERE o.purchase_id = r.purchase_id AND o.source IN ('purchase', 'subscription')
            AND o.created_at <= r.created_at
          ORDER BY o.expires_at DESC NULLS FIRST LIMIT 1) o ON true
        -- Within a millisecond: the app carries times as JavaScript dates, the database to the microsecond.
        WHERE r.source = 'dispute_reversal'
          AND ((r.expires_at IS NULL) <> (o.expires_at IS NULL)
               OR abs(extract(epoch FROM r.expires_at - o.expires_at)) >= 0.001)`,
  );
  return found.map((row) => ({
    check: "reinstated_credits_keep_expiry",
    userId: row.user_id,
    detail: `lot ${row.lot_id} given back for purchase ${row.purchase_id} expires ${row.expires_at ?? "never"}, the purchase's credits ${row.purchase_expires_at ?? "never"}`,
  }));
}

/**
 * Credits given back after their expiry (a `dispute_reversal` lot that expired as it was written) cancel
 * at most the debt their own purchase's clawbacks left: over all of a purchase's expired reinstatements,
 * the debt they repaid never exceeds the `debt_change` of its refund and dispute entries. More means
 * expired credits paid debt another purchase's refund or dispute left (creditkit_add_credits before
 * migration 0012). Reads only purchases with such lots, which are rare.
 */
export async function checkExpiredReinstatementRepaysOwnDebt(
  db: DatabaseOrTransaction,
): Promise<LedgerViolation[]> {
  const found = await rows<{ purchase_id: string; user_id: string; cancelled: string; added: string }>(
    db,
    sql`SELECT b.purchase_id, b.user_id, b.cancelled, c.added
        FROM (SELECT l.purchase_id, l.user_id, -sum(r.debt_change) AS cancelled
              FROM credit_lot l
                JOIN credit_entry g ON g.id = l.grant_entry_id
                JOIN credit_entry r ON r.user_id = g.user_id
                  AND r.idempotency_key = g.idempotency_key || ':debt-repayment'
              WHERE l.source = 'dispute_reversal' AND l.expires_at <= l.created_at
              GROUP BY l.purchase_id, l.user_id) b
        JOIN credit_purchase p ON p.id = b.purchase_id
        CROSS JOIN LATERAL (
          SELECT coalesce(sum(e.debt_change), 0) AS added FROM credit_entry e
          WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
            AND e.type IN ('refund', 'dispute')) c
        WHERE b.cancelled > c.added`,
  );
  return found.map((row) => ({
    check: "expired_reinstatement_repays_own_debt",
    userId: row.user_id,
    detail: `purchase ${row.purchase_id}: credits given back after their expiry repaid ${row.cancelled} credits of debt, its clawbacks left ${row.added}`,
  }));
}

/**
 * Sandbox only (its PaymentIntents are in this database): every PaymentIntent that succeeded, with no
 * event of it still waiting in the outbox, has its purchase granted (or flagged for review). Catches a
 * payment whose delivery was lost, and one made on a purchase the app had given up on.
 */
export async function checkSandboxPaymentsGranted(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const found = await rows<{ id: string; purchase_id: string; status: string; user_id: string }>(
    db,
    sql`SELECT i.id, p.id AS purchase_id, p.status, p.user_id FROM sandbox_payment_intent i
        JOIN credit_purchase p ON p.payment_intent_id = i.id
        WHERE i.status = 'succeeded' AND p.status NOT IN ('succeeded', 'requires_review')
          AND NOT EXISTS (SELECT 1 FROM sandbox_event_outbox o
                          WHERE o.payment_intent_id = i.id AND o.delivered_at IS NULL)`,
  );
  return found.map((row) => ({
    check: "sandbox_payment_granted",
    userId: row.user_id,
    detail: `sandbox PaymentIntent ${row.id} succeeded but purchase ${row.purchase_id} is ${row.status}`,
  }));
}

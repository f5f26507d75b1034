import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { checkDebtLeavesNothingSpendable, checkNoEntryAfterExpiry } from "./verify-debt-and-expiry";
import { verifyInvoicePurchases } from "./verify-invoice-purchases";
import { verifyLedgerAggregates } from "./verify-ledger-aggregates";
import { verifyPurchaseClawbacks } from "./verify-purchase-clawbacks";
import {
  checkExpiredReinstatementRepaysOwnDebt,
  checkPurchaseCreditsLeaveOnce,
  checkReinstatedCreditsKeepExpiry,
  checkSandboxPaymentsGranted,
} from "./verify-purchase-lots";
import { verifySubscriptions } from "./verify-subscriptions";
import { checkUnresolvedWebhookFailures } from "./verify-webhook-failures";

export type LedgerViolation = { check: string; userId?: string; detail: string };
export type LedgerReport = { accounts: number; entries: number; violations: LedgerViolation[] };

async function rows<T>(db: DatabaseOrTransaction, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/**
 * Checks the invariants the whole system rests on, for every account at once. Used by the operators'
 * `verify` command and after every integration suite. Each check is one set-based query, so a
 * violation names the user and what disagrees.
 */
export async function verifyLedger(db: DatabaseOrTransaction): Promise<LedgerReport> {
  const violations: LedgerViolation[] = [];

  for (const row of await rows<{
    user_id: string;
    balance: string;
    held: string;
    lots: string;
    holds: string;
  }>(
    db,
    sql`SELECT a.user_id, a.balance, a.held,
               coalesce((SELECT sum(l.remaining) FROM credit_lot l WHERE l.user_id = a.user_id), 0) AS lots,
               coalesce((SELECT sum(h.amount - h.expired_amount) FROM credit_hold h WHERE h.user_id = a.user_id AND h.status = 'open'), 0) AS holds
        FROM credit_account a`,
  )) {
    if (Number(row.balance) !== Number(row.lots) + Number(row.holds)) {
      violations.push({
        check: "balance_equals_lots_and_holds",
        userId: row.user_id,
        detail: `account balance ${row.balance} but lots hold ${row.lots} and open holds ${row.holds}`,
      });
    }
    if (Number(row.held) !== Number(row.holds)) {
      violations.push({
        check: "held_equals_open_holds",
        userId: row.user_id,
        detail: `account says ${row.held} held but open holds reserve ${row.holds}`,
      });
    }
  }

  for (const row of await rows<{ user_id: string; id: string; expected: string; actual: string }>(
    db,
    sql`SELECT user_id, id, expected, balance_after AS actual FROM (
          SELECT user_id, id, balance_after,
                 coalesce(lag(balance_after) OVER (PARTITION BY user_id ORDER BY id), 0) + amount AS expected
          FROM credit_entry) chain
        WHERE expected <> balance_after`,
  )) {
    violations.push({
      check: "balance_after_chain",
      userId: row.user_id,
      detail: `entry ${row.id}: balance_after ${row.actual}, previous balance + amount = ${row.expected}`,
    });
  }

  for (const row of await rows<{ user_id: string; balance: string; last: string | null }>(
    db,
    sql`SELECT a.user_id, a.balance,
               (SELECT e.balance_after FROM credit_entry e WHERE e.user_id = a.user_id ORDER BY e.id DESC LIMIT 1) AS last
        FROM credit_account a`,
  )) {
    if (Number(row.last ?? 0) !== Number(row.balance)) {
      violations.push({
        check: "balance_matches_last_entry",
        userId: row.user_id,
        detail: `account balance ${row.balance} but newest entry says ${row.last ?? 0}`,
      });
    }
  }

  for (const row of await rows<{ id: string; amount: string; drawn: string }>(
    db,
    sql`SELECT e.id, e.amount, coalesce(sum(al.amount), 0) AS drawn
        FROM credit_entry e LEFT JOIN credit_allocation al ON al.entry_id = e.id
        WHERE e.amount < 0 GROUP BY e.id, e.amount HAVING coalesce(sum(al.amount), 0) <> -e.amount`,
  )) {
    violations.push({
      check: "debit_fully_allocated",
      detail: `entry ${row.id} debits ${row.amount} but its allocations draw ${row.drawn}`,
    });
  }

  for (const row of await rows<{ id: string; credits: string; remaining: string; drawn: string }>(
    db,
    sql`SELECT id, credits, remaining, drawn FROM (SELECT l.id, l.credits, l.remaining,
               coalesce((SELECT sum(al.amount) FROM credit_allocation al WHERE al.lot_id = l.id), 0)
             + coalesce((SELECT sum(ha.amount) FROM credit_hold_allocation ha JOIN credit_hold h ON h.id = ha.hold_id
                         WHERE ha.lot_id = l.id AND h.status = 'open'), 0) AS drawn
        FROM credit_lot l) lots
        WHERE credits - remaining <> drawn`,
  )) {
    violations.push({
      check: "lot_draws_accounted",
      detail: `lot ${row.id}: ${row.credits} granted, ${row.remaining} left, but spends and open holds draw ${row.drawn}`,
    });
  }

  for (const row of await rows<{ reference: string; grants: string }>(
    db,
    sql`SELECT reference, count(*) AS grants FROM credit_entry
        WHERE type = 'purchase' AND reference IS NOT NULL GROUP BY reference HAVING count(*) > 1`,
  )) {
    violations.push({
      check: "payment_intent_granted_once",
      detail: `PaymentIntent ${row.reference} granted ${row.grants} times`,
    });
  }

  for (const row of await rows<{ id: string; payment_intent_id: string | null }>(
    db,
    // A subscription invoice's grants are checked with the subscription's (verify-subscriptions.ts).
    sql`SELECT p.id, p.payment_intent_id FROM credit_purchase p
        WHERE p.status = 'succeeded' AND p.kind = 'package' AND NOT EXISTS (
          SELECT 1 FROM credit_entry e WHERE e.user_id = p.user_id AND e.type = 'purchase'
            AND e.reference = p.payment_intent_id)`,
  )) {
    violations.push({
      check: "succeeded_purchase_granted",
      detail: `purchase ${row.id} (${row.payment_intent_id}) succeeded but no grant exists`,
    });
  }

  for (const row of await rows<{ user_id: string; debt: string; changes: string }>(
    db,
    sql`SELECT a.user_id, a.debt,
               coalesce((SELECT sum(e.debt_change) FROM credit_entry e WHERE e.user_id = a.user_id), 0) AS changes
        FROM credit_account a`,
  )) {
    if (Number(row.debt) !== Number(row.changes)) {
      violations.push({
        check: "debt_matches_entries",
        userId: row.user_id,
        detail: `account debt ${row.debt} but entries add up to ${row.changes}`,
      });
    }
  }

  for (const row of await rows<{ id: string; clawed_back_credits: number; applied: string }>(
    db,
    sql`SELECT p.id, p.clawed_back_credits,
               coalesce((SELECT sum(CASE WHEN e.type = 'dispute_reversal' THEN -e.amount ELSE e.debt_change - e.amount END)
                         FROM credit_entry e
                         WHERE e.user_id = p.user_id AND e.reference = p.payment_intent_id
                           AND e.type IN ('refund', 'dispute', 'dispute_reversal')), 0) AS applied
        FROM credit_purchase p WHERE p.payment_intent_id IS NOT NULL`,
  )) {
    if (Number(row.applied) !== Number(row.clawed_back_credits)) {
      violations.push({
        check: "refunds_applied_once",
        detail: `purchase ${row.id}: ${row.clawed_back_credits} credits clawed back but entries apply ${row.applied}`,
      });
    }
  }

  violations.push(...(await checkUnresolvedWebhookFailures(db)));
  violations.push(...(await checkDebtLeavesNothingSpendable(db)));
  violations.push(...(await checkNoEntryAfterExpiry(db)));
  violations.push(...(await verifyPurchaseClawbacks(db)));
  violations.push(...(await checkPurchaseCreditsLeaveOnce(db)));
  violations.push(...(await checkReinstatedCreditsKeepExpiry(db)));
  violations.push(...(await checkExpiredReinstatementRepaysOwnDebt(db)));
  violations.push(...(await checkSandboxPaymentsGranted(db)));
  violations.push(...(await verifySubscriptions(db)));
  violations.push(...(await verifyInvoicePurchases(db)));
  violations.push(...(await verifyLedgerAggregates(db)));

  const [counts] = await rows<{ accounts: string; entries: string }>(
    db,
    sql`SELECT (SELECT count(*) FROM credit_account) AS accounts, (SELECT count(*) FROM credit_entry) AS entries`,
  );
  return { accounts: Number(counts?.accounts ?? 0), entries: Number(counts?.entries ?? 0), violations };
}

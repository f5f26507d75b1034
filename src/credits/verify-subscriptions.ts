import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import type { LedgerViolation } from "./verify-ledger";

async function rows<T>(db: DatabaseOrTransaction, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/**
 * The invariants of subscription credits (src/payment/subscriptions/grant-credit-period.ts), judged from
 * the tables alone, independently of the code that writes them:
 *
 * - `subscription_grant_recorded`: a `granted` period row has its `subscription` entry and lot, with the
 *   row's credits, the invoice as reference, and an expiry at the period's end (none only for a plan
 *   whose rollover is `unlimited`, as the entry's metadata says). A lot expiring anywhere else (a calendar
 *   month's end, a month after the grant) would take credits early or leave them late. A period paid
 *   after it ended expires at its `lot_expires_at` instead (later than its end, by the table's CHECK).
 * - `subscription_period_over_not_granted`: a period paid after its end has no entry and 0 credits.
 * - `subscription_entry_has_period`: every `subscription` entry belongs to a period row: no grant made
 *   outside the one path that is keyed by the invoice and period.
 * - `subscription_period_start_once`: no two base periods of one subscription start at the same time (two
 *   invoices for one period would grant it twice).
 * - `subscription_rollover_recorded`: a granted carry has its `rollover` entry and lot, with the row's
 *   credits (at most the cap, by the table's CHECK), expiring when the period carried into ends, no more
 *   than what expired unused of the ending period's lots (nothing minted), and no more than that period's
 *   own credits less what refunds and disputes took back from them (so carried credits never carry
 *   again, and a refunded period's carry-in is not carried in its place);
 *   `rollover_entry_has_row`: every `rollover` entry is such a carry;
 *   `rollover_shares_recorded`: the shares of a carry held by purchases (subscription_rollover_share) name
 *   its lot, add up to no more than it carried, and are held by purchases with lots that ended with the
 *   period carried from (its own, or a period paid late), so no refund can take back more of a carry than
 *   it held.
 * - `slot_year_complete`: a yearly line's slots (kind `slot`) are twelve per invoice, indexed 0–11, each
 *   starting where the previous ends (schedule-yearly-slots.ts); no other kind has a slot index.
 * - `slot_not_issued_has_no_credits`: a `scheduled` or `stopped` slot has no entry or lot, and a stopped
 *   one 0 credits: a stopped slot is never granted.
 * - `slot_grants_disjoint`: no two granted slots of one subscription overlap in time (two years' slots for
 *   one month would be a double grant), save a new year's first slot beginning inside a month granted
 *   before it (the cycle reset by a switch made at once, yearly → monthly → yearly: the old year's unused
 *   time was credited toward the new one, and the month granted before the switch stays the customer's).
 * - `free_plan_grant_recorded`: a Free period row has its `free_plan` entry and lot with the row's credits,
 *   expiring at the period's end (none only when the entry says the rollover is `unlimited`);
 *   `free_plan_entry_has_row`: every `free_plan` entry is such a row's; `free_plan_periods_disjoint`: no
 *   two Free periods of a user overlap (periods are anchored on the sign-up, so they never do).
 * - `sandbox_invoice_granted`: a paid sandbox invoice whose events have all been delivered has its
 *   period rows, and `sandbox_unpaid_invoice_not_granted`: no period row exists for a sandbox invoice that
 *   is not paid (a first payment that failed grants nothing).
 */
export async function verifySubscriptions(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const violations: LedgerViolation[] = [];

  for (const row of await rows<{ invoice_id: string; user_id: string; problem: string }>(
    db,
    sql`SELECT g.invoice_id, g.user_id,
               CASE WHEN e.id IS NULL THEN 'no subscription entry'
                    WHEN l.id IS NULL THEN 'no lot'
                    WHEN l.credits <> g.credits OR e.amount <> g.credits
                      THEN 'entry ' || e.amount || ' / lot ' || l.credits || ' credits, row ' || g.credits
                    WHEN e.reference IS DISTINCT FROM g.invoice_id THEN 'entry reference ' || coalesce(e.reference, 'null')
                    WHEN l.expires_at IS NULL AND e.metadata ->> 'rollover' = 'unlimited' THEN NULL
                    WHEN l.expires_at IS DISTINCT FROM coalesce(g.lot_expires_at, g.period_end)
                      THEN 'lot expires ' || coalesce(l.expires_at::text, 'never') || ', period ends ' || g.period_end::text
                           || coalesce(', paid late until ' || g.lot_expires_at::text, '')
               END AS problem
        FROM subscription_period_grant g
        LEFT JOIN credit_entry e ON e.id = g.entry_id AND e.user_id = g.user_id AND e.type = 'subscription'
        LEFT JOIN credit_lot l ON l.id = g.lot_id AND l.grant_entry_id = e.id
        WHERE g.status = 'granted'`,
  )) {
    if (row.problem)
      violations.push({
        check: "subscription_grant_recorded",
        userId: row.user_id,
        detail: `invoice ${row.invoice_id}: ${row.problem}`,
      });
  }

  for (const row of await rows<{ invoice_id: string; user_id: string }>(
    db,
    sql`SELECT invoice_id, user_id FROM subscription_period_grant
        WHERE status = 'period_over' AND (entry_id IS NOT NULL OR lot_id IS NOT NULL OR credits <> 0)`,
  )) {
    violations.push({
      check: "subscription_period_over_not_granted",
      userId: row.user_id,
      detail: `invoice ${row.invoice_id}: a period paid after its end has credits or an entry`,
    });
  }

  for (const row of await rows<{ id: string; user_id: string }>(
    db,
    sql`SELECT e.id, e.user_id FROM credit_entry e
        WHERE e.type = 'subscription'
          AND NOT EXISTS (SELECT 1 FROM subscription_period_grant g WHERE g.entry_id = e.id)`,
  )) {
    violations.push({
      check: "subscription_entry_has_period",
      userId: row.user_id,
      detail: `entry ${row.id} grants subscription credits that no period row accounts for`,
    });
  }

  for (const row of await rows<{
    subscription_id: string;
    user_id: string;
    period_start: string;
    grants: string;
  }>(
    db,
    sql`SELECT subscription_id, min(user_id) AS user_id, period_start, count(*) AS grants
        FROM subscription_period_grant WHERE kind = 'period'
        GROUP BY subscription_id, period_start HAVING count(*) > 1`,
  )) {
    violations.push({
      check: "subscription_period_start_once",
      userId: row.user_id,
      detail: `subscription ${row.subscription_id}: ${row.grants} periods start at ${row.period_start}`,
    });
  }

  for (const row of await rows<{ id: string; user_id: string }>(
    db,
    sql`SELECT i.id, s.user_id FROM sandbox_invoice i JOIN sandbox_subscription s ON s.id = i.subscription_id
        WHERE i.status = 'paid'
          AND NOT EXISTS (SELECT 1 FROM subscription_period_grant g WHERE g.invoice_id = i.id)
          AND NOT EXISTS (SELECT 1 FROM sandbox_event_outbox o
                          WHERE o.subscription_id = i.subscription_id AND o.delivered_at IS NULL)`,
  )) {
    violations.push({
      check: "sandbox_invoice_granted",
      userId: row.user_id,
      detail: `sandbox invoice ${row.id} is paid and its events delivered, but no period was granted`,
    });
  }

  for (const row of await rows<{ id: string; user_id: string; status: string }>(
    db,
    sql`SELECT i.id, s.user_id, i.status FROM sandbox_invoice i JOIN sandbox_subscription s ON s.id = i.subscription_id
        WHERE i.status <> 'paid' AND EXISTS (SELECT 1 FROM subscription_period_grant g WHERE g.invoice_id = i.id)`,
  )) {
    violations.push({
      check: "sandbox_unpaid_invoice_not_granted",
      userId: row.user_id,
      detail: `sandbox invoice ${row.id} is ${row.status} but has a period row`,
    });
  }

  for (const row of await rows<{
    subscription_id: string;
    user_id: string;
    into_start: string;
    problem: string;
  }>(
    db,
    sql`SELECT r.subscription_id, r.user_id, r.into_start,
               CASE WHEN e.id IS NULL THEN 'no rollover entry'
                    WHEN l.id IS NULL THEN 'no lot'
                    WHEN l.credits <> r.credits OR e.amount <> r.credits
                      THEN 'entry ' || e.amount || ' / lot ' || l.credits || ' credits, row ' || r.credits
                    WHEN l.expires_at IS DISTINCT FROM r.into_end
                      THEN 'lot expires ' || coalesce(l.expires_at::text, 'never') || ', period ends ' || r.into_end::text
                    WHEN r.credits > x.own THEN 'carries ' || r.credits || ' of a period that granted ' || x.own
                    WHEN r.credits > x.expired THEN 'carries ' || r.credits || ' but only ' || x.expired || ' expired unused'
               END AS problem
        FROM subscription_rollover r
        LEFT JOIN credit_entry e ON e.id = r.entry_id AND e.user_id = r.user_id AND e.type = 'rollover'
        LEFT JOIN credit_lot l ON l.id = r.lot_id AND l.grant_entry_id = e.id
        CROSS JOIN LATERAL (
          SELECT
            (SELECT coalesce(sum(g.credits), 0) FROM subscription_period_grant g
             WHERE g.subscription_id = r.subscription_id AND g.period_end = r.into_start
               AND g.kind IN ('period', 'slot', 'proration') AND g.status = 'granted'
               AND g.lot_expires_at IS NULL)
            - (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
                 JOIN credit_entry ce ON ce.id = al.entry_id AND ce.type IN ('refund', 'dispute')
               WHERE al.lot_id IN (
                 SELECT g.lot_id FROM subscription_period_grant g
                 WHERE g.subscription_id = r.subscription_id AND g.period_end = r.into_start
                   AND g.kind IN ('period', 'slot', 'proration') AND g.status = 'granted'
                   AND g.lot_expires_at IS NULL)) AS own,
            (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
               JOIN credit_entry xe ON xe.id = al.entry_id AND xe.type = 'expire'
             WHERE al.lot_id IN (
               SELECT g.lot_id FROM subscription_period_grant g
               WHERE g.subscription_id = r.subscription_id
                 AND coalesce(g.lot_expires_at, g.period_end) = r.into_start
                 AND g.kind IN ('period', 'slot', 'proration')
               UNION ALL
               SELECT p.lot_id FROM subscription_rollover p
               WHERE p.subscription_id = r.subscription_id AND p.into_end = r.into_start)) AS expired) x
        WHERE r.status = 'granted'`,
  )) {
    if (row.problem)
      violations.push({
        check: "subscription_rollover_recorded",
        userId: row.user_id,
        detail: `rollover of subscription ${row.subscription_id} into ${row.into_start}: ${row.problem}`,
      });
  }

  // A share's purchase paid for lots that ended with the period carried from: its own period's lots, or a
  // period paid late whose lot ended there (roll-into-period.ts, recordCarryShares).
  const heldInPeriod = sql`EXISTS (SELECT 1 FROM subscription_period_grant g
    WHERE g.subscription_id = s.subscription_id AND g.purchase_id = s.purchase_id AND g.status = 'granted'
      AND coalesce(g.lot_expires_at, g.period_end) = s.into_start)`;
  for (const row of await rows<{
    subscription_id: string;
    user_id: string;
    into_start: string;
    problem: string;
  }>(
    db,
    sql`SELECT s.subscription_id, min(r.user_id) AS user_id, s.into_start,
               CASE WHEN bool_or(r.subscription_id IS NULL) OR bool_or(r.status <> 'granted') THEN 'shares of a carry never granted'
                    WHEN bool_or(s.lot_id IS DISTINCT FROM r.lot_id) THEN 'a share names another lot than the carry'
                    WHEN bool_or(NOT ${heldInPeriod}) THEN 'a share held by a purchase none of whose lots ended with the period'
                    ELSE 'shares add up to ' || sum(s.credits) || ' of a carry of ' || min(r.credits) END AS problem
        FROM subscription_rollover_share s
        LEFT JOIN subscription_rollover r ON r.subscription_id = s.subscription_id AND r.into_start = s.into_start
        GROUP BY s.subscription_id, s.into_start
        HAVING bool_or(r.subscription_id IS NULL) OR bool_or(r.status <> 'granted')
            OR bool_or(s.lot_id IS DISTINCT FROM r.lot_id) OR sum(s.credits) > min(r.credits)
            OR bool_or(NOT ${heldInPeriod})`,
  )) {
    violations.push({
      check: "rollover_shares_recorded",
      userId: row.user_id,
      detail: `carry of subscription ${row.subscription_id} into ${row.into_start}: ${row.problem}`,
    });
  }

  for (const row of await rows<{ id: string; user_id: string }>(
    db,
    sql`SELECT e.id, e.user_id FROM credit_entry e
        WHERE e.type = 'rollover'
          AND NOT EXISTS (SELECT 1 FROM subscription_rollover r WHERE r.entry_id = e.id)`,
  )) {
    violations.push({
      check: "rollover_entry_has_row",
      userId: row.user_id,
      detail: `entry ${row.id} carries credits that no rollover row accounts for`,
    });
  }

  for (const row of await rows<{ invoice_id: string; user_id: string; problem: string }>(
    db,
    sql`SELECT invoice_id, min(user_id) AS user_id,
               count(*) || ' slots, indexes ' || coalesce(string_agg(slot_index::text, ',' ORDER BY slot_index), 'none') AS problem
        FROM subscription_period_grant WHERE kind = 'slot'
        GROUP BY invoice_id
        HAVING count(*) <> 12 OR count(DISTINCT slot_index) <> 12 OR min(slot_index) <> 0 OR max(slot_index) <> 11
      UNION ALL
        SELECT a.invoice_id, a.user_id, 'slot ' || b.slot_index || ' starts ' || b.period_start::text
               || ' but slot ' || a.slot_index || ' ends ' || a.period_end::text
        FROM subscription_period_grant a
        JOIN subscription_period_grant b
          ON b.invoice_id = a.invoice_id AND b.kind = 'slot' AND b.slot_index = a.slot_index + 1
        WHERE a.kind = 'slot' AND a.period_end <> b.period_start
      UNION ALL
        SELECT invoice_id, user_id, 'a ' || kind || ' row has a slot index'
        FROM subscription_period_grant WHERE kind <> 'slot' AND slot_index IS NOT NULL`,
  )) {
    violations.push({
      check: "slot_year_complete",
      userId: row.user_id,
      detail: `invoice ${row.invoice_id}: ${row.problem}`,
    });
  }

  for (const row of await rows<{ invoice_id: string; user_id: string; status: string }>(
    db,
    sql`SELECT invoice_id, user_id, status FROM subscription_period_grant
        WHERE status IN ('scheduled', 'stopped')
          AND (entry_id IS NOT NULL OR lot_id IS NOT NULL OR (status = 'stopped' AND credits <> 0))`,
  )) {
    violations.push({
      check: "slot_not_issued_has_no_credits",
      userId: row.user_id,
      detail: `invoice ${row.invoice_id}: a ${row.status} slot has credits or an entry`,
    });
  }

  for (const row of await rows<{ subscription_id: string; user_id: string; a: string; b: string }>(
    db,
    sql`SELECT a.subscription_id, a.user_id, a.period_start::text AS a, b.period_start::text AS b
        FROM subscription_period_grant a
        JOIN subscription_period_grant b
          ON b.subscription_id = a.subscription_id AND b.kind = 'slot' AND b.status = 'granted'
         AND (a.invoice_id, a.period_start) < (b.invoice_id, b.period_start)
         AND a.period_start < b.period_end AND b.period_start < a.period_end
        WHERE a.kind = 'slot' AND a.status = 'granted'
          AND NOT (b.slot_index = 0 AND a.period_start < b.period_start)
          AND NOT (a.slot_index = 0 AND b.period_start < a.period_start)`,
  )) {
    violations.push({
      check: "slot_grants_disjoint",
      userId: row.user_id,
      detail: `subscription ${row.subscription_id}: granted slots starting ${row.a} and ${row.b} overlap`,
    });
  }

  for (const row of await rows<{ user_id: string; period_start: string; problem: string }>(
    db,
    sql`SELECT f.user_id, f.period_start::text AS period_start,
               CASE WHEN e.id IS NULL THEN 'no free_plan entry'
                    WHEN l.id IS NULL THEN 'no lot'
                    WHEN l.credits <> f.credits OR e.amount <> f.credits
                      THEN 'entry ' || e.amount || ' / lot ' || l.credits || ' credits, row ' || f.credits
                    WHEN l.expires_at IS NULL AND e.metadata ->> 'rollover' = 'unlimited' THEN NULL
                    WHEN l.expires_at IS DISTINCT FROM f.period_end
                      THEN 'lot expires ' || coalesce(l.expires_at::text, 'never') || ', period ends ' || f.period_end::text
               END AS problem
        FROM free_plan_grant f
        LEFT JOIN credit_entry e ON e.id = f.entry_id AND e.user_id = f.user_id AND e.type = 'free_plan'
        LEFT JOIN credit_lot l ON l.id = f.lot_id AND l.grant_entry_id = e.id`,
  )) {
    if (row.problem)
      violations.push({
        check: "free_plan_grant_recorded",
        userId: row.user_id,
        detail: `Free period from ${row.period_start}: ${row.problem}`,
      });
  }

  for (const row of await rows<{ id: string; user_id: string }>(
    db,
    sql`SELECT e.id, e.user_id FROM credit_entry e
        WHERE e.type = 'free_plan'
          AND NOT EXISTS (SELECT 1 FROM free_plan_grant f WHERE f.entry_id = e.id)`,
  )) {
    violations.push({
      check: "free_plan_entry_has_row",
      userId: row.user_id,
      detail: `entry ${row.id} grants Free plan credits that no Free period row accounts for`,
    });
  }

  for (const row of await rows<{ user_id: string; a: string; b: string }>(
    db,
    sql`SELECT a.user_id, a.period_start::text AS a, b.period_start::text AS b
        FROM free_plan_grant a
        JOIN free_plan_grant b ON b.user_id = a.user_id AND b.period_start > a.period_start
         AND b.period_start < a.period_end`,
  )) {
    violations.push({
      check: "free_plan_periods_disjoint",
      userId: row.user_id,
      detail: `Free periods starting ${row.a} and ${row.b} overlap`,
    });
  }

  return violations;
}

import { and, eq, inArray, isNull, type SQL, sql } from "drizzle-orm";
import { findPlan, planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow } from "@/credits/sql-rows";
import { subscriptionPeriodGrant, subscriptionRollover, subscriptionRolloverShare } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import type { SubscriptionRow } from "./lock-subscription";

export type RolloverRow = typeof subscriptionRollover.$inferSelect;
export type RolloverOutcome = "no_rollover" | "pending" | "rolled_over" | "nothing_to_roll";

/** The ledger key of a carry: the subscription and the start of the period carried into (the cause). */
export function rolloverKey(subscriptionId: string, intoStart: Date): InternalKey {
  return internalKey("subscription-rollover", subscriptionId, Math.floor(intoStart.getTime() / 1000));
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * Carries the unspent credits of the period that ends where `into` starts into `into`, once, when the
 * ending period's plan has a capped rollover. A period is a monthly line's, or one monthly slot of a
 * yearly line (kind `slot`): a yearly plan carries from slot to slot as a monthly plan does. Call it right after granting `into` (grantCreditPeriod), in
 * the same transaction and under the subscription's row lock: that grant has just expired the user's due
 * lots, so at a real renewal the ending period's credits are already expired and the carry is known now.
 *
 * Writes the `subscription_rollover` row keyed by (subscription, into.start), ON CONFLICT DO NOTHING, so a
 * redelivered invoice or a second path never carries twice; the ledger key is the second lock. Then settles
 * it (settleRollover) or leaves it `pending` for the job when the ending period's credits are not all gone
 * yet. `none` and `unlimited` plans carry nothing (unlimited credits never expire), and neither does a
 * first period, nor a period paid after it ended (`lot_expires_at` set, grant-credit-period.ts): its
 * credits already live through the following period, so carrying what is left of them would extend them a
 * second time. Returns what happened.
 */
export async function rollIntoPeriod(
  tx: DatabaseOrTransaction,
  subscription: SubscriptionRow,
  into: { start: Date; end: Date },
  now?: Date,
): Promise<RolloverOutcome> {
  const sources = await tx
    .select()
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.subscriptionId, subscription.id),
        eq(subscriptionPeriodGrant.periodEnd, into.start),
        eq(subscriptionPeriodGrant.status, "granted"),
        // A yearly plan's monthly slots are periods too: capped rollover carries from one slot to the next.
        inArray(subscriptionPeriodGrant.kind, ["period", "slot", "proration"]),
        // A period paid late is no source: its lot outlives the period (see above).
        isNull(subscriptionPeriodGrant.lotExpiresAt),
      ),
    );
  // The plan in force when the period ended: an upgrade's proration row (the newest) names the plan the
  // period finished on, so Pro → Max mid-period carries up to Max's cap; otherwise the period's own plan.
  const last = [...sources].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).at(-1);
  const plan = last ? findPlan(last.planId) : undefined;
  if (plan?.rollover.policy !== "capped") return "no_rollover";

  const [row] = await tx
    .insert(subscriptionRollover)
    .values({
      subscriptionId: subscription.id,
      intoStart: into.start,
      intoEnd: into.end,
      userId: subscription.userId,
      planId: plan.id,
      cap: plan.rollover.cap,
      status: "pending",
    })
    .onConflictDoNothing()
    .returning();
  if (!row) return "no_rollover";
  return settleRollover(tx, row, now);
}

/**
 * The carry out of a period granted late: when `from` was granted after the period that follows it (a
 * failed renewal retried and paid, or its `invoice.paid` delivered late, once the next invoice had been
 * applied), the next period's own rollIntoPeriod found nothing to carry from and wrote no row. So the
 * carry from `from` into that next period is recorded now, by the same rollIntoPeriod: keyed by the next
 * period's start, it is written once whichever invoice came first, and a period that carried already
 * (its row exists) is left as it is. Call it right after granting `from`, under the subscription's row
 * lock. Returns `no_rollover` when no granted period starts where `from` ends.
 */
export async function rollIntoFollowingPeriod(
  tx: DatabaseOrTransaction,
  subscription: SubscriptionRow,
  from: { start: Date; end: Date },
  now?: Date,
): Promise<RolloverOutcome> {
  const [following] = await tx
    .select({ start: subscriptionPeriodGrant.periodStart, end: subscriptionPeriodGrant.periodEnd })
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.subscriptionId, subscription.id),
        eq(subscriptionPeriodGrant.periodStart, from.end),
        eq(subscriptionPeriodGrant.status, "granted"),
        inArray(subscriptionPeriodGrant.kind, ["period", "slot"]),
        isNull(subscriptionPeriodGrant.lotExpiresAt),
      ),
    )
    .limit(1);
  if (!following) return "no_rollover";
  return rollIntoPeriod(tx, subscription, following, now);
}

/**
 * Grants a pending carry once the ending period's credits are settled, i.e. every one of its lots (its
 * own base and proration lots, and the carry into it) has nothing left that could still be spent or expire:
 * remaining 0 and no open hold on it. Until then the row stays `pending` (`pending`).
 *
 * carry = min(cap, the period's own credits, what expired unused of all its lots): the credits carried
 * into the period count as spent first, because they can never carry again, so what is left unspent is
 * the period's own up to their amount. The period's own credits are those its lots were granted less what
 * a refund or dispute took back from them: a refunded period has nothing of its own left to carry, and
 * without this its carry-in, expiring unused beside the clawed-back lot, would be carried a second time.
 * (Credits a won dispute gives back come as a lot of their own, outside the period, and never carry.) The
 * refunds subtracted are those drawn from the own lots, lot by lot: that is order-free only because a
 * clawback takes a purchase's late lots (below) before its own lot of the same expiry
 * (settle-purchase-clawback.ts, `firstLotIds`), as the carry counts late credits used first. So a refund
 * reaches the own lot only once the late lots are empty; then nothing of them expires and the carry is
 * bounded by what expired, whatever lot the refund or a spend drew first. Judged from sums rather than lot by lot, the answer is the same
 * whichever of two lots with the same expiry the ledger drew from. So credits carry once, never more than
 * expired unused, and at most `cap`. A period paid late whose lot ends with the ending period
 * (`lot_expires_at`, grant-credit-period.ts) counts like a carry into it: its lot must be settled too, its
 * credits are spent first and it never adds to the period's own (they were another period's credits).
 *
 * The carry is a `rollover` lot expiring at the end of the period carried into (`paid` when any of the
 * ending period's own lots was). Nothing is granted (`nothing_to_roll`) when the carry is 0 or that period is
 * over by the database's clock. The caller holds the subscription's row lock; the row is locked here.
 * `now` is for tests only.
 */
export async function settleRollover(
  tx: DatabaseOrTransaction,
  pending: RolloverRow,
  now?: Date,
): Promise<RolloverOutcome> {
  const [row] = await tx
    .select()
    .from(subscriptionRollover)
    .where(
      and(
        eq(subscriptionRollover.subscriptionId, pending.subscriptionId),
        eq(subscriptionRollover.intoStart, pending.intoStart),
      ),
    )
    .for("update");
  if (row?.status !== "pending") return row?.status === "granted" ? "rolled_over" : "nothing_to_roll";

  const at = clockParam(now);
  const totals = firstRow<{
    open_lots: string | number;
    expired: string | number;
    own: string | number;
    paid: boolean;
    into_over: boolean;
  }>(
    await tx.execute(sql`
      WITH own_lots AS (
        SELECT g.lot_id FROM subscription_period_grant g
        WHERE g.subscription_id = ${row.subscriptionId} AND g.period_end = ${row.intoStart.toISOString()}::timestamptz
          AND g.status = 'granted' AND g.kind IN ('period', 'slot', 'proration') AND g.lot_id IS NOT NULL
          AND g.lot_expires_at IS NULL),
      period_lots AS (
        SELECT lot_id FROM own_lots
        UNION ALL
        SELECT g.lot_id FROM subscription_period_grant g
        WHERE g.subscription_id = ${row.subscriptionId} AND g.lot_expires_at = ${row.intoStart.toISOString()}::timestamptz
          AND g.status = 'granted' AND g.lot_id IS NOT NULL
        UNION ALL
        SELECT r.lot_id FROM subscription_rollover r
        WHERE r.subscription_id = ${row.subscriptionId} AND r.into_end = ${row.intoStart.toISOString()}::timestamptz
          AND r.status = 'granted' AND r.lot_id IS NOT NULL)
      SELECT
        (SELECT count(*) FROM credit_lot l JOIN period_lots s ON s.lot_id = l.id
         WHERE l.remaining > 0 OR EXISTS (
           SELECT 1 FROM credit_hold_allocation ha JOIN credit_hold h ON h.id = ha.hold_id
           WHERE ha.lot_id = l.id AND h.status = 'open')) AS open_lots,
        (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
           JOIN credit_entry e ON e.id = al.entry_id AND e.type = 'expire'
           JOIN period_lots s ON s.lot_id = al.lot_id) AS expired,
        (SELECT coalesce(sum(l.credits), 0) FROM credit_lot l JOIN own_lots s ON s.lot_id = l.id)
          - (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
             JOIN credit_entry e ON e.id = al.entry_id AND e.type IN ('refund', 'dispute')
             JOIN own_lots s ON s.lot_id = al.lot_id) AS own,
        (SELECT coalesce(bool_or(l.category = 'paid'), false) FROM credit_lot l JOIN own_lots s ON s.lot_id = l.id) AS paid,
        coalesce(${at}::timestamptz, now()) >= ${row.intoEnd.toISOString()}::timestamptz AS into_over`),
  );
  if (Number(totals.open_lots) > 0) return "pending";

  const carry = Math.min(row.cap, Number(totals.own), Number(totals.expired));
  const where = and(
    eq(subscriptionRollover.subscriptionId, row.subscriptionId),
    eq(subscriptionRollover.intoStart, row.intoStart),
  );
  if (carry === 0 || totals.into_over) {
    await tx
      .update(subscriptionRollover)
      .set({ status: "nothing", credits: 0, settledAt: sql`now()` })
      .where(where);
    return "nothing_to_roll";
  }
  const plan = findPlan(row.planId);
  const grant = await addCredits(
    tx,
    {
      userId: row.userId,
      amount: carry,
      type: "rollover",
      description: `Unused ${planName(plan ?? { id: row.planId })} plan credits carried into ${day(row.intoStart)} – ${day(row.intoEnd)}`,
      idempotencyKey: rolloverKey(row.subscriptionId, row.intoStart),
      // Carried once: the carry ends with the period it was carried into, and is never a source itself.
      expiresAt: row.intoEnd,
      category: totals.paid ? "paid" : "promotional",
      reference: row.subscriptionId,
      // The carried credits were bought with the ending period's invoices (its base invoice, an upgrade's
      // proration invoice): whose share is whose is recorded below (carryShares), not on the lot.
      metadata: {
        subscriptionId: row.subscriptionId,
        planId: row.planId,
        kind: "rollover",
        periodStart: row.intoStart.toISOString(),
        periodEnd: row.intoEnd.toISOString(),
        cap: row.cap,
      },
    },
    now,
  );
  await recordCarryShares(tx, row, { lotId: grant.lotId, credits: carry });
  await tx
    .update(subscriptionRollover)
    .set({
      status: "granted",
      credits: carry,
      entryId: grant.entryId,
      lotId: grant.lotId,
      settledAt: sql`now()`,
    })
    .where(where);
  logger.info(
    { subscriptionId: row.subscriptionId, userId: row.userId, entryId: grant.entryId, credits: carry },
    "subscription credits rolled over",
  );
  return "rolled_over";
}

/**
 * Records whose money a carry's credits were bought with (subscription_rollover_share), in the carry's
 * transaction: the ending period's own lots may belong to several purchases (its base invoice and an
 * upgrade's proration invoice), and a refund or dispute of either after the carry must take back its own
 * share from the carry lot, or the refunded credits would live on in the next period
 * (settle-purchase-clawback.ts, purchase-credit-lots.ts).
 *
 * Each purchase's unspent own credits are what expired unused of its lots in the period, at most its
 * credits there less what refunds and disputes took back; the carry is handed out in the order the
 * purchases were made (the base invoice first), each taking at most its unspent own credits, as the carry
 * itself counts carried-in credits as spent first. What the own purchases' shares leave of the carry goes
 * to the purchases of periods paid late whose lots ended with the period (oldest first, each at most what
 * expired unused of its lots): the carry counts late credits as spent first, so that part of the carry
 * stands for late credits that expired in place of the own credits spent. Credits of no purchase (a $0
 * invoice) get no share.
 */
async function recordCarryShares(
  tx: DatabaseOrTransaction,
  row: RolloverRow,
  carry: { lotId: string; credits: number },
): Promise<void> {
  const intoStart = row.intoStart.toISOString();
  // The period's own lots first, then the lots of periods paid late that ended with it: the carry counted
  // the late credits as spent first (settleRollover), so what the own lots' unspent credits do not cover
  // of the carry stands for late credits that expired unused in their place, and is their purchases'
  // share. Without it a refund of a late invoice after the carry would find its lot expired unused and
  // take back nothing, while what was spent of it lives on in the carry as the period's own credits.
  const own = sql`g.period_end = ${intoStart}::timestamptz AND g.kind IN ('period', 'slot', 'proration')
    AND g.lot_expires_at IS NULL`;
  const late = sql`g.lot_expires_at = ${intoStart}::timestamptz`;
  let left = carry.credits;
  for (const lots of [own, late]) {
    for (const owner of await unspentByPurchase(tx, row.subscriptionId, lots)) {
      const share = Math.min(left, Math.max(0, owner.unspent));
      if (share <= 0) continue;
      left -= share;
      await tx
        .insert(subscriptionRolloverShare)
        .values({
          subscriptionId: row.subscriptionId,
          intoStart: row.intoStart,
          purchaseId: owner.purchaseId,
          lotId: carry.lotId,
          credits: share,
        })
        // A purchase may own both kinds of lots (a yearly invoice paid late: its late months end with the
        // month in force, which is its own slot), so its two shares add up. Doing nothing on the second
        // would drop the late part, and a refund after the carry would leave it to the customer. The carry
        // row is settled once (under its lock, `pending` → `granted`), so nothing is added twice.
        .onConflictDoUpdate({
          target: [
            subscriptionRolloverShare.subscriptionId,
            subscriptionRolloverShare.intoStart,
            subscriptionRolloverShare.purchaseId,
          ],
          set: { credits: sql`${subscriptionRolloverShare.credits} + excluded.credits` },
        });
    }
  }
}

/**
 * Per purchase (oldest first), the credits of the subscription's granted lots matching `lots` (a condition
 * on the grant row `g`) that expired unused, at most their credits less what refunds and disputes took
 * back. Lots of no purchase (a $0 invoice) are left out.
 */
async function unspentByPurchase(
  tx: DatabaseOrTransaction,
  subscriptionId: string,
  lots: SQL,
): Promise<{ purchaseId: string; unspent: number }[]> {
  const owners = (await tx.execute(sql`
    WITH period_lots AS (
      SELECT l.id AS lot_id, l.purchase_id, l.credits FROM subscription_period_grant g
      JOIN credit_lot l ON l.id = g.lot_id
      WHERE g.subscription_id = ${subscriptionId} AND g.status = 'granted' AND ${lots}
        AND l.purchase_id IS NOT NULL)
    SELECT o.purchase_id,
           least(
             sum(o.credits) - (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
               JOIN credit_entry e ON e.id = al.entry_id AND e.type IN ('refund', 'dispute')
               WHERE al.lot_id IN (SELECT x.lot_id FROM period_lots x WHERE x.purchase_id = o.purchase_id)),
             (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
               JOIN credit_entry e ON e.id = al.entry_id AND e.type = 'expire'
               WHERE al.lot_id IN (SELECT x.lot_id FROM period_lots x WHERE x.purchase_id = o.purchase_id))
           ) AS unspent
    FROM period_lots o JOIN credit_purchase p ON p.id = o.purchase_id
    GROUP BY o.purchase_id
    ORDER BY min(p.created_at), o.purchase_id`)) as unknown as {
    rows: { purchase_id: string; unspent: string | number }[];
  };
  return owners.rows.map((owner) => ({ purchaseId: owner.purchase_id, unspent: Number(owner.unspent) }));
}

import { sql } from "drizzle-orm";
import { findPlan } from "@/catalog/plans";
import { clockParam } from "@/credits/database-clock";
import { sqlRows } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * This credit period of a subscription, as the credits page shows it: all in credits, times in ISO 8601.
 * - `granted`: the period's credits (its grant, an upgrade's extra credits) plus what rolled into it;
 * - `left`: what of those is still spendable;
 * - `takenBack`: what of those a refund or a dispute of the subscription's invoice took back from the
 *   period's lots (clawbacks, claw-back-credits.ts); credits a won dispute gave back come as a lot of their
 *   own and are not counted here;
 * - `used` = granted − left − takenBack: what the user spent (a clawback is not the user's use);
 * - `rollsOver`: what will carry into the next period if nothing more is spent (the plan's policy: up to the
 *   cap of the period's own credits for `capped`, 0 for `none`; carried credits never carry again);
 *   null for `unlimited` (period credits never expire, so nothing needs to carry);
 * - `expiresAt`: when what does not carry expires (the period's end); null for `unlimited`.
 */
export type PeriodUsage = {
  periodStart: string;
  periodEnd: string;
  granted: number;
  used: number;
  left: number;
  takenBack: number;
  rollsOver: number | null;
  expiresAt: string | null;
};

/**
 * The current credit period of `subscriptionId` (a monthly plan's billing period, a yearly plan's monthly
 * slot): the newest granted period that has not ended by the database's now. (Newest rather than "holding
 * now": the sandbox's clock runs ahead of the real one, and a period granted there starts in the future.)
 * Null when no period is running (nothing granted yet, or the last period ended). Reads only; `now` is for tests (the
 * ledger's clock, src/credits/database-clock.ts).
 */
export async function getPeriodUsage(
  db: DatabaseOrTransaction,
  subscriptionId: string,
  now?: Date,
): Promise<PeriodUsage | null> {
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
  const [period] = sqlRows<{ period_start: Date | string; period_end: Date | string; plan_id: string }>(
    await db.execute(sql`
      SELECT g.period_start, g.period_end, g.plan_id FROM subscription_period_grant g
      WHERE g.subscription_id = ${subscriptionId} AND g.status = 'granted' AND g.kind IN ('period', 'slot')
        AND ${at} < g.period_end
      ORDER BY g.period_start DESC LIMIT 1`),
  );
  if (!period) return null;
  const start = new Date(period.period_start);
  const end = new Date(period.period_end);
  // The period's own credits (its grant, and an upgrade's extra credits that end with it), then the carry
  // into it; each with what is left of its lot (nothing once the lot's time has passed).
  const [row] = sqlRows<{
    own: string;
    own_left: string;
    carried: string;
    carried_left: string;
    taken_back: string;
  }>(
    await db.execute(sql`
      SELECT
        coalesce(sum(g.credits), 0) AS own,
        coalesce(sum(CASE WHEN l.expires_at IS NULL OR l.expires_at > ${at} THEN l.remaining ELSE 0 END), 0) AS own_left,
        (SELECT coalesce(sum(r.credits), 0) FROM subscription_rollover r
          WHERE r.subscription_id = ${subscriptionId} AND r.into_start = ${start.toISOString()}::timestamptz
            AND r.status = 'granted') AS carried,
        (SELECT coalesce(sum(CASE WHEN rl.expires_at IS NULL OR rl.expires_at > ${at} THEN rl.remaining ELSE 0 END), 0)
           FROM subscription_rollover r JOIN credit_lot rl ON rl.id = r.lot_id
          WHERE r.subscription_id = ${subscriptionId} AND r.into_start = ${start.toISOString()}::timestamptz
            AND r.status = 'granted') AS carried_left,
        -- What refunds and disputes took from the period's lots (its own and the carry into it).
        (SELECT coalesce(sum(al.amount), 0) FROM credit_allocation al
           JOIN credit_entry e ON e.id = al.entry_id AND e.type IN ('refund', 'dispute')
          WHERE al.lot_id IN (
            SELECT pg.lot_id FROM subscription_period_grant pg
             WHERE pg.subscription_id = ${subscriptionId} AND pg.status = 'granted'
               AND pg.period_end = ${end.toISOString()}::timestamptz AND pg.kind IN ('period', 'slot', 'proration')
            UNION
            SELECT r.lot_id FROM subscription_rollover r
             WHERE r.subscription_id = ${subscriptionId} AND r.into_start = ${start.toISOString()}::timestamptz
               AND r.status = 'granted')) AS taken_back
      FROM subscription_period_grant g LEFT JOIN credit_lot l ON l.id = g.lot_id
      WHERE g.subscription_id = ${subscriptionId} AND g.status = 'granted'
        AND g.period_end = ${end.toISOString()}::timestamptz AND g.kind IN ('period', 'slot', 'proration')`),
  );
  const own = Number(row?.own ?? 0);
  const ownLeft = Number(row?.own_left ?? 0);
  const granted = own + Number(row?.carried ?? 0);
  const left = ownLeft + Number(row?.carried_left ?? 0);
  const takenBack = Number(row?.taken_back ?? 0);
  const rollover = findPlan(period.plan_id)?.rollover ?? { policy: "none" as const };
  const unlimited = rollover.policy === "unlimited";
  return {
    periodStart: start.toISOString(),
    periodEnd: end.toISOString(),
    granted,
    // Never below 0: credits of the period's lots are spent, expired, taken back or left.
    used: Math.max(0, granted - left - takenBack),
    left,
    takenBack,
    rollsOver: unlimited ? null : rollover.policy === "capped" ? Math.min(ownLeft, rollover.cap) : 0,
    expiresAt: unlimited ? null : end.toISOString(),
  };
}

import { and, eq, sql } from "drizzle-orm";
import { PLANS, type Plan, planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { type CreditPeriod, creditPeriod, creditPeriodIndexAt } from "@/credits/credit-periods";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow, sqlRows } from "@/credits/sql-rows";
import { freePlanGrant, LIVE_SUBSCRIPTION_STATUSES } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";

/**
 * Subscription states in which the user has a paid plan, so the Free plan grants nothing: the live states
 * without `checkout` and `incomplete` (started, never paid: a customer who abandons the payment page must
 * not lose the Free plan until that subscription expires).
 */
export const PAID_PLAN_STATUSES = LIVE_SUBSCRIPTION_STATUSES.filter(
  (status) => status !== "checkout" && status !== "incomplete",
);

/** The ledger key of one Free period's grant: the user and the period's start (the cause, not a month). */
export function freePlanGrantKey(userId: string, periodStart: Date): InternalKey {
  return internalKey("free-plan", userId, Math.floor(periodStart.getTime() / 1000));
}

/** The catalog's free plan (the one without a price; parsePlans checks there is exactly one). */
export function freePlan(plans: readonly Plan[] = PLANS): Plan | undefined {
  return plans.find((plan) => plan.price === null);
}

/**
 * The Free plan's period of a user at `at`: months anchored on the sign-up time (`user.createdAt`), by the
 * month-end rule (a user who signed up on Jan 31 has periods ending Feb 28/29, Mar 31, ...), never a
 * calendar month. Null before the sign-up.
 */
export function freePlanPeriod(signedUpAt: Date, at: Date): CreditPeriod | null {
  const index = creditPeriodIndexAt(signedUpAt, at, 1);
  return index < 0 ? null : creditPeriod(signedUpAt, index, 1);
}

export type FreePlanCreditsResult = {
  /** Users granted their current period's Free credits by this pass. */
  granted: number;
  /** Users left without: credits of a paid plan cover part of the period, or another run granted first. */
  skipped: number;
};

const quoted = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(", "));

/**
 * The job's Free plan pass (issue 10, "Free credits come from the same job"): every user with no paid
 * subscription (PAID_PLAN_STATUSES) gets the free plan's `creditsPerMonth` (from the catalog) for the
 * period of theirs that contains now (freePlanPeriod), once, as a `free_plan` lot that expires at the
 * period's end (or never, were the free plan's rollover `unlimited`; carrying is not offered on Free).
 *
 * Users are read in batches of `batchSize` by id (keyset), skipping in SQL those with a paid subscription
 * and those whose current period is granted already, so 100k users never load at once and a pass over
 * users who have their credits is a scan of the user table. Each user in a transaction of their own:
 * 1. no Free credits in a period that credits of a paid plan overlap (a `granted` or `scheduled` period
 *    grant of the user): the plan replaces Free, and after it ends Free resumes with the next period;
 * 2. the `free_plan_grant` row (user, period start) is inserted `ON CONFLICT DO NOTHING` before the
 *    ledger entry: a second run, a restarted run or a concurrent instance finds it taken (waiting for the
 *    first transaction if it is still running) and grants nothing; the entry's key (freePlanGrantKey) is
 *    the second lock on the door;
 * 3. the entry and lot are written and recorded on the row.
 *
 * Only users whose address is verified: free credits for any account made would be free credits for
 * every script that makes accounts. `userId` limits the pass to one user (their address was just verified:
 * the credits arrive at once instead of at the next run).
 *
 * `now` is for tests only (the ledger's clock, database-clock.ts); without it the pass uses the database's
 * clock read once at its start. A user's failure is logged and left to the next run. Returns the counts.
 */
export async function grantFreePlanCredits(
  db: Database,
  options: { now?: Date; batchSize?: number; userId?: string } = {},
): Promise<FreePlanCreditsResult> {
  const result: FreePlanCreditsResult = { granted: 0, skipped: 0 };
  const plan = freePlan();
  if (!plan || plan.disabled) return result;
  const { clock } = firstRow<{ clock: Date | string }>(
    await db.execute(sql`SELECT coalesce(${clockParam(options.now)}::timestamptz, now()) AS clock`),
  );
  const at = new Date(clock);
  const batchSize = options.batchSize ?? 500;
  let after: string | null = null;
  for (;;) {
    const users: { id: string; created_at: Date | string }[] = sqlRows(
      await db.execute(sql`
        SELECT u.id, u.created_at FROM "user" u
        WHERE ${after === null ? sql`true` : sql`u.id > ${after}`}
          AND ${options.userId === undefined ? sql`true` : sql`u.id = ${options.userId}`}
          -- Free credits, like the signup gift, need a verified address: an account made by a script
          -- with someone else's address (or none that works) gets nothing to spend.
          AND u.email_verified
          AND u.created_at <= ${at.toISOString()}::timestamptz
          AND NOT EXISTS (SELECT 1 FROM subscription s
                          WHERE s.user_id = u.id AND s.status IN (${quoted(PAID_PLAN_STATUSES)}))
          AND NOT EXISTS (SELECT 1 FROM free_plan_grant f
                          WHERE f.user_id = u.id AND f.period_start <= ${at.toISOString()}::timestamptz
                            AND f.period_end > ${at.toISOString()}::timestamptz)
        ORDER BY u.id
        LIMIT ${batchSize}`),
    );
    for (const user of users) {
      const period = freePlanPeriod(new Date(user.created_at), at);
      let granted = false;
      if (period) {
        try {
          granted = await db.transaction((tx) =>
            grantFreePeriod(tx, { userId: user.id, plan, period }, options.now),
          );
        } catch (error) {
          logger.error(
            { err: error, userId: user.id },
            "subscription credits: Free plan credits could not be granted; the next run tries again",
          );
        }
      }
      if (granted) result.granted++;
      else result.skipped++;
    }
    const last = users[users.length - 1];
    if (!last || users.length < batchSize) return result;
    after = last.id;
  }
}

/** One user's Free period, in the caller's transaction (see grantFreePlanCredits). True when granted. */
async function grantFreePeriod(
  tx: DatabaseOrTransaction,
  input: { userId: string; plan: Plan; period: CreditPeriod },
  now?: Date,
): Promise<boolean> {
  const { userId, plan, period } = input;
  const { paid } = firstRow<{ paid: boolean }>(
    await tx.execute(sql`
      SELECT EXISTS (SELECT 1 FROM subscription s
                     WHERE s.user_id = ${userId} AND s.status IN (${quoted(PAID_PLAN_STATUSES)}))
          OR EXISTS (SELECT 1 FROM subscription_period_grant g
                     WHERE g.user_id = ${userId} AND g.status IN ('granted', 'scheduled')
                       AND g.period_start < ${period.end.toISOString()}::timestamptz
                       AND g.period_end > ${period.start.toISOString()}::timestamptz) AS paid`),
  );
  if (paid) return false;
  const inserted = await tx
    .insert(freePlanGrant)
    .values({
      userId,
      periodStart: period.start,
      periodEnd: period.end,
      credits: plan.creditsPerMonth,
    })
    .onConflictDoNothing()
    .returning({ userId: freePlanGrant.userId });
  if (inserted.length === 0) return false;
  const day = (date: Date) => date.toISOString().slice(0, 10);
  const grant = await addCredits(
    tx,
    {
      userId,
      amount: plan.creditsPerMonth,
      type: "free_plan",
      description: `${planName(plan)} plan credits for ${day(period.start)} – ${day(period.end)}`,
      idempotencyKey: freePlanGrantKey(userId, period.start),
      ...(plan.rollover.policy === "unlimited" ? {} : { expiresAt: period.end }),
      category: "promotional",
      metadata: {
        planId: plan.id,
        kind: "free_plan",
        periodStart: period.start.toISOString(),
        periodEnd: period.end.toISOString(),
        rollover: plan.rollover.policy,
      },
    },
    now,
  );
  await tx
    .update(freePlanGrant)
    .set({ entryId: grant.entryId, lotId: grant.lotId })
    .where(and(eq(freePlanGrant.userId, userId), eq(freePlanGrant.periodStart, period.start)));
  logger.info(
    { userId, entryId: grant.entryId, credits: plan.creditsPerMonth },
    "subscription credits: Free plan credits granted",
  );
  return true;
}

import { and, asc, eq, gt, lte, or, sql } from "drizzle-orm";
import { findPlan } from "@/catalog/plans";
import { clockParam } from "@/credits/database-clock";
import { firstRow } from "@/credits/sql-rows";
import { subscription, subscriptionPeriodGrant } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { grantRecordedPeriod, type PeriodGrantRow } from "./grant-credit-period";
import { invoiceMoneyState, lockInvoicePurchase, noteSlotIssued } from "./invoice-purchase";
import { latePeriodLotExpiry } from "./late-period-expiry";
import { slotAfterCycleLeft, yearlyCycleLeftAt } from "./left-yearly-cycle";
import type { SubscriptionRow } from "./lock-subscription";
import { rollIntoPeriod } from "./roll-into-period";

/** What one pass did with the due slots it looked at. */
export type IssueDueSlotsResult = {
  /** Slots granted while their month was under way: entry and lot written, the lot ending with the slot. */
  granted: number;
  /**
   * Slots found only after their month ended (the job was down for a month, or an instance ran without
   * jobs) and granted then, once: the lot lives until the end of the slot in force (issueSlot).
   */
  grantedLate: number;
  /** Slots that will never be granted: the subscription ended before they started, or the year was returned. */
  stopped: number;
  /**
   * Slots due whose invoice's money is withdrawn by a dispute still open: neither granted nor stopped,
   * left `scheduled` for a run after the dispute closes (won: granted; lost: stopped).
   */
  held: number;
  /** Slots another run held (its transaction was on them) or had settled already: left to it. */
  skipped: number;
};

type SlotOutcome = "granted" | "granted_late" | "stopped" | "held" | "skipped";

/** Statuses of a subscription that is over for good: Stripe never moves them back to live. */
const ENDED_STATUSES = new Set(["canceled", "incomplete_expired"]);

/**
 * Whether a slot of `sub` must not be granted because the subscription ended before the slot started.
 * Judged from the final facts (`ended_at`), not from when the job happens to run: a slot that came due
 * while the subscription was live is granted even when the job gets to it after the end. A subscription
 * reported ended without an end time is taken as ended before the slot.
 */
export function endedBeforeSlot(sub: Pick<SubscriptionRow, "status" | "endedAt">, slotStart: Date): boolean {
  if (sub.endedAt) return sub.endedAt.getTime() <= slotStart.getTime();
  return ENDED_STATUSES.has(sub.status);
}

/**
 * The job's part of yearly plans (issue 10, "Yearly plans grant monthly"): grants every `scheduled` slot
 * whose start has come by the database's clock (`now` for tests and the sandbox's simulated time), oldest
 * first, in batches of `batchSize`, until none is left. `subscriptionId` limits the pass to one
 * subscription (the sandbox's advance, which moves one subscription's clock). `dueBy` (the sandbox's
 * advance, with that subscription's test clock) judges which slots have started or ended by that time
 * while the ledger writes at the database's clock (`now`): the slot's entries are not dated in the future,
 * and the grant's expiry of due lots judges the user's other credits (packages, gifts) by the real clock,
 * never by one subscription's.
 *
 * Each slot in its own transaction, so a crash loses at most the slot under way and a failure of one
 * (logged) does not hold back the others:
 * 1. the subscription's row, then the slot's, are locked `FOR UPDATE SKIP LOCKED` (the subscription
 *    first, the order of every subscription path, so a webhook and the job cannot deadlock): a row another
 *    run or an event holds is skipped, and found settled or due again by the next run;
 * 2. under the locks the slot is read again: only a slot still `scheduled` is touched, so running the job
 *    twice, restarting it mid-run or running it on three instances grants each slot once (the ledger key,
 *    subscription and slot start, is the second lock on the door);
 * 3. a slot whose subscription ended before the slot started (endedBeforeSlot), or left the year's billing
 *    cycle no later than the slot's start (yearlyCycleLeftAt: switched to a monthly price at once, the
 *    year's unused time credited toward it; the months granted before stay), or whose invoice's money
 *    went back in full for good (invoiceMoneyState `returned`: refunded, or disputes lost), becomes
 *    `stopped`, with 0 credits and no entry: the customer keeps what was issued until it expires, and gets
 *    nothing more. A slot whose money is withdrawn by a dispute still open (`disputed`) is `held`: left
 *    `scheduled`, untouched, for a run after the dispute closes (a won dispute means the month was paid
 *    for after all, and it is then granted, late if its month is over, by step 4);
 * 4. a slot already over by the clock (the job was down for a month, an instance ran without jobs) is
 *    still granted, once, under its usual key (slotGrantKey): the customer paid for that month, and the
 *    job being late is no reason to take it from them. As a slot already over when its year was paid
 *    (grant-credit-period.ts, `granted_late`), its lot cannot end with the slot (it would expire at
 *    birth): the row's `lot_expires_at` is set first, to the end of the slot in force (the same
 *    invoice's slot containing the clock, else latePeriodLotExpiry's rule), or the slot's own length from
 *    now when the subscription has ended since the slot began. No carry goes into or out of such a slot
 *    (roll-into-period.ts skips rows with `lot_expires_at`): its lot already outlives its month. Its
 *    history entry says it was issued late (`issuedLate` in the metadata), not paid late;
 * 5. else it is granted (grantRecordedPeriod: the plan's credits as a lot expiring at the slot's end), and
 *    the capped carry of the previous slot follows (rollIntoPeriod).
 * In both cases the invoice's purchase is told (noteSlotIssued: a partial refund takes its share), all in
 * the slot's transaction.
 *
 * Returns the counts. Throws nothing for one slot's failure (logged, retried next run).
 */
export async function issueDueSlots(
  db: Database,
  options: { now?: Date; dueBy?: Date; subscriptionId?: string; batchSize?: number } = {},
): Promise<IssueDueSlotsResult> {
  const result: IssueDueSlotsResult = { granted: 0, grantedLate: 0, stopped: 0, held: 0, skipped: 0 };
  const clock = sql`coalesce(${clockParam(options.dueBy ?? options.now)}::timestamptz, now())`;
  let after: { start: Date; invoiceId: string } | null = null;
  for (;;) {
    // Keyset over (period_start, invoice_id): slots skipped because another run holds them are not
    // looked at again in this pass, so the pass ends even while others work.
    const due: PeriodGrantRow[] = await db
      .select()
      .from(subscriptionPeriodGrant)
      .where(
        and(
          eq(subscriptionPeriodGrant.status, "scheduled"),
          eq(subscriptionPeriodGrant.kind, "slot"),
          lte(subscriptionPeriodGrant.periodStart, clock),
          options.subscriptionId
            ? eq(subscriptionPeriodGrant.subscriptionId, options.subscriptionId)
            : undefined,
          after
            ? or(
                gt(subscriptionPeriodGrant.periodStart, after.start),
                and(
                  eq(subscriptionPeriodGrant.periodStart, after.start),
                  gt(subscriptionPeriodGrant.invoiceId, after.invoiceId),
                ),
              )
            : undefined,
        ),
      )
      .orderBy(asc(subscriptionPeriodGrant.periodStart), asc(subscriptionPeriodGrant.invoiceId))
      .limit(options.batchSize ?? 100);
    for (const slot of due) {
      let outcome: SlotOutcome;
      try {
        outcome = await db.transaction((tx) => issueSlot(tx, slot, options.now, options.dueBy));
      } catch (error) {
        logger.error(
          { err: error, invoiceId: slot.invoiceId, subscriptionId: slot.subscriptionId, userId: slot.userId },
          "subscription credits: a yearly slot could not be issued; the next run tries again",
        );
        outcome = "skipped";
      }
      if (outcome === "granted") result.granted++;
      else if (outcome === "stopped") result.stopped++;
      else if (outcome === "granted_late") result.grantedLate++;
      else if (outcome === "held") result.held++;
      else result.skipped++;
    }
    const last = due[due.length - 1];
    if (!last || due.length < (options.batchSize ?? 100)) return result;
    after = { start: last.periodStart, invoiceId: last.invoiceId };
  }
}

/** One slot, in the caller's transaction: locks, re-checks and settles it (see issueDueSlots). */
async function issueSlot(
  tx: DatabaseOrTransaction,
  candidate: PeriodGrantRow,
  now?: Date,
  dueBy?: Date,
): Promise<SlotOutcome> {
  const [sub] = await tx
    .select()
    .from(subscription)
    .where(eq(subscription.id, candidate.subscriptionId))
    .for("update", { skipLocked: true });
  if (!sub) return "skipped";
  const key = and(
    eq(subscriptionPeriodGrant.invoiceId, candidate.invoiceId),
    eq(subscriptionPeriodGrant.kind, "slot"),
    eq(subscriptionPeriodGrant.periodStart, candidate.periodStart),
  );
  const [slot] = await tx
    .select()
    .from(subscriptionPeriodGrant)
    .where(and(key, eq(subscriptionPeriodGrant.status, "scheduled")))
    .for("update", { skipLocked: true });
  // Settled by another run since it was listed (or held by one right now).
  if (!slot) return "skipped";
  // The invoice's purchase before the ledger account (the grant locks it): the order of every purchase
  // path, so a refund event settling this invoice at the same moment waits instead of deadlocking.
  await lockInvoicePurchase(tx, slot.invoiceId);

  const { started, over } = firstRow<{ started: boolean; over: boolean }>(
    await tx.execute(sql`
      SELECT coalesce(${clockParam(dueBy ?? now)}::timestamptz, now()) >= ${slot.periodStart.toISOString()}::timestamptz AS started,
             coalesce(${clockParam(dueBy ?? now)}::timestamptz, now()) >= ${slot.periodEnd.toISOString()}::timestamptz AS over`),
  );
  if (!started) return "skipped";
  const log = logger.child({
    subscriptionId: sub.id,
    userId: sub.userId,
    invoiceId: slot.invoiceId,
    slotIndex: slot.slotIndex,
  });

  if (await leftCycleBeforeSlot(tx, sub, slot)) {
    await tx.update(subscriptionPeriodGrant).set({ status: "stopped", credits: 0 }).where(key);
    log.info(
      { currentPeriodStart: sub.currentPeriodStart, planId: sub.planId },
      "subscription credits: yearly slot stopped, the subscription left the year's billing cycle before it",
    );
    return "stopped";
  }
  const money = endedBeforeSlot(sub, slot.periodStart)
    ? "ended"
    : await invoiceMoneyState(tx, slot.invoiceId);
  if (money === "ended" || money === "returned") {
    await tx.update(subscriptionPeriodGrant).set({ status: "stopped", credits: 0 }).where(key);
    log.info(
      { status: sub.status, endedAt: sub.endedAt, money },
      "subscription credits: yearly slot stopped",
    );
    return "stopped";
  }
  if (money === "disputed") {
    // Left scheduled: the dispute may still be won (invoiceMoneyState). A run after it closes grants the
    // slot (late, by the rule below, if its month is over by then) or stops it.
    log.info("subscription credits: yearly slot held while its invoice's dispute is open");
    return "held";
  }
  const plan = findPlan(slot.planId);
  if (!plan) throw new Error(`plan ${slot.planId} of a scheduled slot is not in the catalog`);
  // A slot over by the clock is granted late: its lot's end is recorded on the row before the grant reads
  // it (grantRecordedPeriod expires the lot at `lot_expires_at`), in this transaction.
  const row = over ? await recordLateSlotExpiry(tx, sub, slot, dueBy ?? now) : slot;
  const grant = await grantRecordedPeriod(
    tx,
    {
      row,
      plan,
      providerSubscriptionId: sub.providerSubscriptionId,
      paidMoney: await invoiceTookMoney(tx, slot),
      ...(over ? { issuedLate: true } : {}),
    },
    now,
  );
  // A late slot carries nothing in: its credits already outlive its month (roll-into-period.ts).
  if (!over) await rollIntoPeriod(tx, sub, { start: slot.periodStart, end: slot.periodEnd }, now);
  await noteSlotIssued(tx, { invoiceId: slot.invoiceId, credits: slot.credits, lotId: grant.lotId }, now);
  if (over) {
    log.warn(
      { entryId: grant.entryId, credits: slot.credits, lotExpiresAt: row.lotExpiresAt },
      "subscription credits: yearly slot issued after its month ended",
    );
    return "granted_late";
  }
  log.info({ entryId: grant.entryId, credits: slot.credits }, "subscription credits: yearly slot granted");
  return "granted";
}

/**
 * Whether the subscription left the billing cycle of the slot's year (yearlyCycleLeftAt: a switch to a
 * monthly price made at once) no later than the slot's start: the year's unused time was credited toward
 * the new price, so the slot was not paid for by its invoice any more.
 */
async function leftCycleBeforeSlot(
  tx: DatabaseOrTransaction,
  sub: SubscriptionRow,
  slot: PeriodGrantRow,
): Promise<boolean> {
  const { start, end } = firstRow<{ start: string | Date; end: string | Date }>(
    await tx.execute(sql`
      SELECT min(period_start) AS start, max(period_end) AS "end" FROM subscription_period_grant
      WHERE invoice_id = ${slot.invoiceId} AND kind = 'slot'`),
  );
  const year = { start: new Date(start), end: new Date(end) };
  const leftAt = await yearlyCycleLeftAt(tx, { subscription: sub, invoiceId: slot.invoiceId, year });
  return slotAfterCycleLeft(leftAt, slot.periodStart);
}

/**
 * Sets a slot found after its month ended to expire at the end of the slot in force at `at` (the
 * database's clock when absent): the same invoice's slot that contains `at`, else latePeriodLotExpiry's
 * rule (another year's slot, the subscription's current period), or the slot's own length from `at` when
 * the subscription has ended. Returns the row as updated, for grantRecordedPeriod.
 */
async function recordLateSlotExpiry(
  tx: DatabaseOrTransaction,
  sub: SubscriptionRow,
  slot: PeriodGrantRow,
  at?: Date,
): Promise<PeriodGrantRow> {
  const clock = sql`coalesce(${clockParam(at)}::timestamptz, now())`;
  const [inForce] = await tx
    .select({ start: subscriptionPeriodGrant.periodStart, end: subscriptionPeriodGrant.periodEnd })
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.invoiceId, slot.invoiceId),
        eq(subscriptionPeriodGrant.kind, "slot"),
        lte(subscriptionPeriodGrant.periodStart, clock),
        gt(subscriptionPeriodGrant.periodEnd, clock),
      ),
    )
    .limit(1);
  const lotExpiresAt = await latePeriodLotExpiry(
    tx,
    sub,
    { start: slot.periodStart, end: slot.periodEnd },
    at,
    inForce,
  );
  const [row] = await tx
    .update(subscriptionPeriodGrant)
    .set({ lotExpiresAt })
    .where(
      and(
        eq(subscriptionPeriodGrant.invoiceId, slot.invoiceId),
        eq(subscriptionPeriodGrant.kind, "slot"),
        eq(subscriptionPeriodGrant.periodStart, slot.periodStart),
      ),
    )
    .returning();
  if (!row)
    throw new Error(`slot ${slot.invoiceId} ${slot.periodStart.toISOString()} vanished under its lock`);
  return row;
}

/**
 * Whether the slot's invoice took money, so its credits are `paid` (else `promotional`, a 100% coupon):
 * as the category of the invoice's first granted slot, which `invoice.paid` granted from the invoice's
 * `amount_paid` (slots over at payment included, granted late). When none was granted (a year paid
 * ahead of its start, as the sandbox's renewals are) the slot rows cannot tell, and a yearly invoice is
 * taken as paid: a 100% coupon on a yearly plan is the rare case.
 */
async function invoiceTookMoney(tx: DatabaseOrTransaction, slot: PeriodGrantRow): Promise<boolean> {
  const { category } = firstRow<{ category: string | null }>(
    await tx.execute(sql`
      SELECT (SELECT l.category FROM subscription_period_grant g JOIN credit_lot l ON l.id = g.lot_id
              WHERE g.invoice_id = ${slot.invoiceId} AND g.kind = 'slot' AND g.status = 'granted'
              ORDER BY g.period_start LIMIT 1) AS category`),
  );
  return category === null ? true : category === "paid";
}

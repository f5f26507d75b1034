import { sql } from "drizzle-orm";
import { addMonthsClamped, type CreditPeriod } from "@/credits/credit-periods";
import { clockParam } from "@/credits/database-clock";
import { firstRow } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import { type CreditPeriodGrantOutcome, grantCreditPeriod } from "./grant-credit-period";
import type { PaidInvoiceLine } from "./invoice-line";
import { endedBeforeSlot } from "./issue-due-slots";
import { slotAfterCycleLeft, yearlyCycleLeftAt } from "./left-yearly-cycle";
import type { SubscriptionRow } from "./lock-subscription";
import { rollIntoPeriod } from "./roll-into-period";

/** A yearly line is granted in this many monthly slots. */
export const SLOTS_PER_YEAR = 12;

/**
 * The twelve monthly slots of a yearly period [start, end): slot i runs from `start` + i months to
 * `start` + (i + 1) months, each by Stripe's month-end rule from the start itself (credit-periods.ts), on
 * `anchorDay` (default: the start's own day): a year anchored on Jan 31 has slots ending Feb 28 (29),
 * Mar 31, Apr 30, ... The last slot ends at `end`, the line's own period end, so the slots cover exactly
 * what was paid for. Throws RangeError when the period is too short for twelve slots (the eleventh
 * boundary would not be before `end`).
 */
export function yearlySlots(period: CreditPeriod, anchorDay = period.start.getUTCDate()): CreditPeriod[] {
  const boundaries = Array.from({ length: SLOTS_PER_YEAR }, (_, index) =>
    addMonthsClamped(period.start, index, anchorDay),
  );
  const last = boundaries[SLOTS_PER_YEAR - 1];
  if (!last || last.getTime() >= period.end.getTime())
    throw new RangeError(
      `a yearly period ${period.start.toISOString()} – ${period.end.toISOString()} is too short for ${SLOTS_PER_YEAR} monthly slots`,
    );
  return boundaries.map((start, index) => ({ start, end: boundaries[index + 1] ?? period.end }));
}

/**
 * The anchor day of a yearly period's slots: the day of the subscription's billing cycle anchor when the
 * period's start is that anchor clamped to a shorter month (a Feb 29 anchor whose next year starts on
 * Feb 28 keeps its slots on the 29th where a month has one), else the start's own day. The sandbox's
 * advance uses it too, so its clock stops where the slots start.
 */
export function slotAnchorDay(periodStart: Date, billingCycleAnchor: Date | null | undefined): number {
  const anchorDay = billingCycleAnchor?.getUTCDate();
  // The anchor's day applied to the start's own month must give the start back.
  if (
    anchorDay !== undefined &&
    anchorDay > periodStart.getUTCDate() &&
    addMonthsClamped(periodStart, 0, anchorDay).getTime() === periodStart.getTime()
  )
    return anchorDay;
  return periodStart.getUTCDate();
}

/**
 * The credits of a paid yearly line: twelve monthly slots of `plan.creditsPerMonth` instead of a year at
 * once, so a customer who cancels or is refunded in month two has not been given the year (issue 10,
 * "Yearly plans grant monthly"). Call it inside the `invoice.paid` transaction, under the subscription's
 * row lock.
 *
 * Each slot is a `subscription_period_grant` row (kind `slot`, `slot_index` 0–11) written by
 * grantCreditPeriod, keyed by (invoice, `slot`, slot start), so a redelivered or concurrent event writes
 * none twice. A slot that has started by the database's clock (slot 0, normally) is granted now, with its
 * lot expiring at the slot's end, and then the capped carry of the period that ended where it starts (the
 * previous year's last slot, or a monthly period before a switch to yearly); the rest are `scheduled`,
 * granted by the `subscription-credits` job when due (issue-due-slots.ts).
 *
 * A year paid late (its renewal declined and paid months later, or its `invoice.paid` delivered late):
 * the customer paid for twelve months, so every slot whose month already passed is issued now, once, as
 * a monthly period paid late is (grantCreditPeriod, `granted_late`): its lot lives until the end of the
 * slot in force at payment (this year's slot containing the payment, else the slot of the year the
 * subscription is in, else the late rule's fallbacks), or the slot's own length from the payment when the
 * subscription has ended. Such slots carry nothing in or out (roll-into-period.ts skips lots with
 * `lot_expires_at`), as late monthly periods do. Slots that have come due but began after the
 * subscription ended are `stopped` (cancelling stops the slots not yet issued, endedBeforeSlot), as are
 * those that began after the subscription left the year's billing cycle (yearlyCycleLeftAt: switched to
 * a monthly price at once while the year was open), the same rules the job applies to the later ones.
 *
 * Returns the outcomes joined with `+`: `granted` (a slot granted now) and its carry's outcome
 * (roll-into-period.ts), `granted_late_<n>` for the past slots issued late, `stopped_<n>` for due slots
 * of an ended subscription, `scheduled_<n>` for the slots left to the job, or `already_granted` when
 * every slot row existed. A line too short for twelve slots is refused with UnknownEventValueError (stored
 * and retried, never granted wrongly). `now` is for tests only.
 */
export async function scheduleYearlySlots(
  tx: DatabaseOrTransaction,
  input: PaidInvoiceLine,
  now?: Date,
): Promise<string> {
  let slots: CreditPeriod[];
  try {
    slots = yearlySlots(
      input.period,
      slotAnchorDay(input.period.start, input.subscription.billingCycleAnchor),
    );
  } catch (error) {
    throw new UnknownEventValueError(`Invoice ${input.invoice.id} has a yearly line shorter than a year.`, {
      invoiceId: input.invoice.id,
      planId: input.plan.id,
      reason: error instanceof Error ? error.message : String(error),
    });
  }
  // The payment's time by the database's clock (the ledger's), for the slot in force at payment.
  const { at } = firstRow<{ at: string | Date }>(
    await tx.execute(sql`SELECT coalesce(${clockParam(now)}::timestamptz, now()) AS at`),
  );
  const paidAt = new Date(at);
  const inForce = slotContaining(slots, paidAt) ?? currentYearSlot(input.subscription, paidAt);
  // A switch away from the year made before the year was paid (the cycle reset while it was open): the
  // months from the switch on are not this invoice's to grant (left-yearly-cycle.ts).
  const leftAt = await yearlyCycleLeftAt(tx, {
    subscription: input.subscription,
    invoiceId: input.invoice.id,
    year: input.period,
  });
  const counts: Partial<Record<CreditPeriodGrantOutcome, number>> = {};
  const outcomes: string[] = [];
  for (const [index, slot] of slots.entries()) {
    const outcome = await grantCreditPeriod(
      tx,
      {
        subscription: input.subscription,
        invoiceId: input.invoice.id,
        providerSubscriptionId: input.providerSubscriptionId,
        plan: input.plan,
        period: slot,
        paidMoney: input.paidMoney,
        slot: {
          index,
          ...(inForce ? { inForce } : {}),
          stopped: endedBeforeSlot(input.subscription, slot.start) || slotAfterCycleLeft(leftAt, slot.start),
        },
      },
      now,
    );
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    if (outcome === "granted") {
      outcomes.push("granted");
      // The granted slot's expiry of due lots has settled the period that ended where it starts.
      const rolled = await rollIntoPeriod(tx, input.subscription, slot, now);
      if (rolled !== "no_rollover") outcomes.push(rolled);
    }
  }
  if (counts.granted_late) outcomes.push(`granted_late_${counts.granted_late}`);
  if (counts.stopped) outcomes.push(`stopped_${counts.stopped}`);
  if (counts.scheduled) outcomes.push(`scheduled_${counts.scheduled}`);
  return outcomes.length > 0 ? outcomes.join("+") : "already_granted";
}

/** The slot of `slots` that contains `at` ([start, end)), if any. */
function slotContaining(slots: CreditPeriod[], at: Date): CreditPeriod | undefined {
  return slots.find((slot) => slot.start.getTime() <= at.getTime() && at.getTime() < slot.end.getTime());
}

/**
 * The monthly slot in force at `at` of the yearly period the subscription row reports (a year paid after
 * the next year began): the month the customer is in, never the whole year. Undefined when the row's
 * period is not a year (a switch to monthly) or does not contain `at`; the late rule then looks further.
 */
function currentYearSlot(subscription: SubscriptionRow, at: Date): CreditPeriod | undefined {
  const start = subscription.currentPeriodStart;
  const end = subscription.currentPeriodEnd;
  if (!start || !end) return undefined;
  try {
    return slotContaining(
      yearlySlots({ start, end }, slotAnchorDay(start, subscription.billingCycleAnchor)),
      at,
    );
  } catch {
    // Not a year (RangeError): a monthly period is found by the late rule itself.
    return undefined;
  }
}

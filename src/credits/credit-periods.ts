/**
 * Billing-period dates as Stripe computes them, for the places that have to schedule periods themselves:
 * the sandbox (which must renew on the dates Stripe would), yearly plans' monthly slots and the free plan.
 * Periods of a real subscription come from the invoice line (`period.start/end`), never from here.
 *
 * Stripe's month-end rule ("Setting the subscription billing cycle date"): every date is computed from the
 * anchor, never from the previous date, and a day the month does not have becomes the month's last day.
 * Anchored on Jan 31, a subscription renews on Feb 28 (29 in a leap year), then Mar 31, Apr 30, May 31.
 * Chaining (Jan 31 → Feb 28 → Mar 28) would drift to the 28th for good; overflowing (Jan 31 + 1 month =
 * Mar 3, as `Date.setUTCMonth` does) would skip February. The anchor's UTC time of day is kept.
 *
 * Nothing here is a calendar month: a period runs from one anchored date to the next.
 */

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one.
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * The date `months` months after `from`, on day `anchorDay` of that month or its last day when the
 * month is shorter, at `from`'s UTC time of day.
 *
 * `anchorDay` (1-31) defaults to `from`'s own day. Pass the subscription's anchor day when `from` is
 * itself a clamped date: a yearly anchor of Jan 31 whose year starts on Feb 28 still renews monthly on
 * the 31st (Mar 31), not the 28th.
 *
 * Throws RangeError when `months` is not an integer or `anchorDay` is not 1-31.
 */
export function addMonthsClamped(from: Date, months: number, anchorDay: number = from.getUTCDate()): Date {
  if (!Number.isInteger(months)) throw new RangeError(`months must be an integer, got ${months}`);
  if (!Number.isInteger(anchorDay) || anchorDay < 1 || anchorDay > 31)
    throw new RangeError(`anchorDay must be 1-31, got ${anchorDay}`);
  const monthIndex = from.getUTCMonth() + months;
  const year = from.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = ((monthIndex % 12) + 12) % 12;
  const day = Math.min(anchorDay, daysInMonth(year, month));
  const timeOfDay = from.getTime() - Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  return new Date(Date.UTC(year, month, day) + timeOfDay);
}

/** One billing period: [start, end). */
export type CreditPeriod = { start: Date; end: Date };

/**
 * Period `index` (0 = the first) of a schedule anchored at `anchor` that renews every `intervalMonths`
 * months: [anchor + index × interval, anchor + (index + 1) × interval), both by addMonthsClamped from the
 * anchor itself, so period 13 of an anchor on the 31st still ends on a 31st where the month has one.
 */
export function creditPeriod(anchor: Date, index: number, intervalMonths: number): CreditPeriod {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`index must be 0 or more, got ${index}`);
  if (!Number.isInteger(intervalMonths) || intervalMonths < 1)
    throw new RangeError(`intervalMonths must be 1 or more, got ${intervalMonths}`);
  return {
    start: addMonthsClamped(anchor, index * intervalMonths),
    end: addMonthsClamped(anchor, (index + 1) * intervalMonths),
  };
}

/**
 * The index of the period of that schedule that contains `at` (start ≤ at < end), or -1 when `at` is
 * before the anchor.
 */
export function creditPeriodIndexAt(anchor: Date, at: Date, intervalMonths: number): number {
  if (at.getTime() < anchor.getTime()) return -1;
  // An estimate from the month difference, then corrected: clamping moves a boundary by at most 3 days.
  const months =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  let index = Math.max(0, Math.floor(months / intervalMonths));
  while (index > 0 && creditPeriod(anchor, index, intervalMonths).start.getTime() > at.getTime()) index--;
  while (creditPeriod(anchor, index, intervalMonths).end.getTime() <= at.getTime()) index++;
  return index;
}

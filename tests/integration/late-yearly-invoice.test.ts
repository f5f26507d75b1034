import { asc, eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { listTransactions } from "../../src/credits/list-transactions";
import { creditLot, subscriptionPeriodGrant } from "../../src/db/schema";
import { runSubscriptionCredits } from "../../src/jobs/run-subscription-credits";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import { useAppDatabase } from "../support/app-database";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf, grantsOfInvoice, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { declinedYearAt, refundedChargeOf, yearlySubscriberAt } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// A yearly invoice paid late: the yearly renewal declined and paid about two and a half months later, or the
// year paid on time with its invoice.paid delivered that late. The customer paid for twelve months, so the
// months already past are issued at payment (once each, under the slot's own key), usable until the month in
// force at payment ends (the slot's length from the payment once the subscription has ended); the rest come
// on schedule. Stripe is the local stand-in; events are signed with the SDK and go through the real route.
const stripe = setUpStripeApp("late_yearly_invoice");

const DAY = 86_400_000;
const deliver = sequencedDelivery(stripe);
type Rec = Record<string, unknown>;
const plusSecond = (date: Date) => new Date(date.getTime() + 1000);

describe.each(databaseKinds())("a yearly invoice paid late, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    stripe.fake.billing.cardDeclines = false;
    await assertLedgerInvariants(database.db);
  });

  const slotsOfInvoice = (invoiceId: string) =>
    database.db
      .select({ slot: subscriptionPeriodGrant, lot: creditLot })
      .from(subscriptionPeriodGrant)
      .leftJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(eq(subscriptionPeriodGrant.invoiceId, invoiceId))
      .orderBy(asc(subscriptionPeriodGrant.slotIndex));

  /** A new Pro (yearly) subscriber whose year began at `yearStart`, checked out at the stand-in. */
  const yearlySubscriber = (yearStart: Date) =>
    yearlySubscriberAt(stripe.fake, deliver, yearStart, "late-year");

  /**
   * A yearly subscriber whose renewal, 75 days ago, was declined: the subscription is past due, the year's
   * invoice open. The first year's own invoice.paid is not delivered (its credits are not the point here).
   */
  async function declinedYear() {
    const sub = await declinedYearAt(stripe.fake, deliver, 75, "late-year");
    const year = sub.year;
    // The premise: two of the year's months are over, the third holds today.
    expect(addMonthsClamped(year.start, 2).getTime()).toBeLessThan(Date.now());
    expect(addMonthsClamped(year.start, 3).getTime()).toBeGreaterThan(Date.now());
    return sub;
  }

  it("declined and paid 2.5 months later: the two past months are issued at payment, usable until the month in force ends, once; the rest on schedule", async () => {
    const sub = await declinedYear();
    const paid = stripe.fake.billing.payOpenInvoice(sub.invoice.id as string);
    const invoiceId = paid.id as string;
    // Delivered twice at once, with the job running beside them, then again.
    const [first, second] = await Promise.all([
      deliver("invoice.paid", paid),
      deliver("invoice.paid", paid),
      runSubscriptionCredits(database.db),
    ]);
    expect([first?.outcome, second?.outcome]).toContainEqual(expect.stringContaining("granted_late_2"));
    expect((await deliver("invoice.paid", paid)).outcome).toContain("already_granted");
    expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
    expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(3);

    const rows = await slotsOfInvoice(invoiceId);
    expect(rows.map(({ slot }) => slot.status)).toEqual([
      "granted",
      "granted",
      "granted",
      ...Array(9).fill("scheduled"),
    ]);
    const inForce = rows[2]?.slot;
    if (!inForce) throw new Error("slot 2");
    expect(inForce.periodStart.getTime()).toBeLessThanOrEqual(Date.now());
    expect(inForce.periodEnd.getTime()).toBeGreaterThan(Date.now());
    // The past months live until the month in force ends; that month's own lot ends with it.
    expect(rows.slice(0, 3).map(({ slot }) => slot.lotExpiresAt)).toEqual([
      inForce.periodEnd,
      inForce.periodEnd,
      null,
    ]);
    expect(rows.slice(0, 3).map(({ lot }) => [lot?.credits, lot?.expiresAt])).toEqual([
      [1000, inForce.periodEnd],
      [1000, inForce.periodEnd],
      [1000, inForce.periodEnd],
    ]);
    // One purchase for the year: 12,000 credits, 3,000 issued so far, refundable like any other.
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
      status: "succeeded",
      credits: 12_000,
      creditsIssued: 3000,
      amount: 19_000,
    });

    // The history says the past months were paid late and until when they are usable.
    const history = await listTransactions(database.db, { userId: sub.user.id, limit: 20 });
    const late = history.items.filter((item) => item.type === "subscription" && item.usableUntil);
    expect(late).toHaveLength(2);
    expect(late.map((item) => item.usableUntil)).toEqual([
      inForce.periodEnd.toISOString(),
      inForce.periodEnd.toISOString(),
    ]);
    expect(late[0]?.description).toMatch(/paid late: usable until /);

    // The job never issues the past months again: now, and when the fourth month begins (that one only).
    expect((await issueDueSlots(database.db, { subscriptionId: sub.step.subscriptionId })).granted).toBe(0);
    const month3 = rows[3]?.slot;
    if (!month3) throw new Error("slot 3");
    const later = { now: plusSecond(month3.periodStart), subscriptionId: sub.step.subscriptionId };
    expect(await issueDueSlots(database.db, later)).toMatchObject({ granted: 1, stopped: 0 });
    expect(await issueDueSlots(database.db, later)).toMatchObject({ granted: 0 });
    expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(4);
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
      credits: 12_000,
      creditsIssued: 4000,
    });
  });

  it("the year paid on time, its invoice.paid delivered 2.5 months late: the same three months, once", async () => {
    const sub = await yearlySubscriber(new Date(Date.now() - 75 * DAY));
    const outcomes = await Promise.all([
      deliver("invoice.paid", sub.step.invoice),
      deliver("invoice.paid", sub.step.invoice),
    ]);
    expect(outcomes.map((o) => o.outcome)).toContainEqual(expect.stringContaining("granted_late_2"));
    expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
    const rows = await slotsOfInvoice(sub.step.invoice.id as string);
    expect(rows.filter(({ slot }) => slot.status === "granted")).toHaveLength(3);
    expect(rows.filter(({ slot }) => slot.status === "scheduled")).toHaveLength(9);
    expect(rows.filter(({ slot }) => slot.lotExpiresAt !== null)).toHaveLength(2);
  });

  it("a refund takes back its share of the issued months; refunded in full, the months not yet issued are stopped", async () => {
    const sub = await declinedYear();
    const paid = stripe.fake.billing.payOpenInvoice(sub.invoice.id as string);
    const invoiceId = paid.id as string;
    await deliver("invoice.paid", paid);
    expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
    // Half the year's price back: half of the 3,000 issued.
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, paid, 9500));
    expect(await balanceOf(database.db, sub.user.id)).toBe(1500);
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, paid, 19_000));
    expect(await balanceOf(database.db, sub.user.id)).toBe(0);
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ clawedBackCredits: 3000 });

    const rows = await slotsOfInvoice(invoiceId);
    const lastSecond = new Date(sub.year.end.getTime() - 1000);
    const run = await issueDueSlots(database.db, {
      now: lastSecond,
      subscriptionId: sub.step.subscriptionId,
    });
    expect(run).toMatchObject({ granted: 0, stopped: 9 });
    expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(3);
    expect((await slotsOfInvoice(invoiceId)).map(({ slot }) => slot.status)).toEqual([
      ...rows.slice(0, 3).map(() => "granted"),
      ...Array(9).fill("stopped"),
    ]);
  });

  it("a year paid on time, then refunded in full: a slot the job reaches only after its month ended is still stopped, not issued late", async () => {
    const sub = await yearlySubscriber(new Date(Date.now() - 3_600_000));
    const invoiceId = sub.step.invoice.id as string;
    expect((await deliver("invoice.paid", sub.step.invoice)).outcome).toContain("granted");
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, sub.step.invoice, 19_000));
    expect(await balanceOf(database.db, sub.user.id)).toBe(0);
    const rows = await slotsOfInvoice(invoiceId);
    const slot2 = rows[2]?.slot;
    if (!slot2) throw new Error("no slot 2");
    // The job was down through slot 1's month: the refund's rule comes before the late-issue rule.
    const run = await issueDueSlots(database.db, {
      now: plusSecond(slot2.periodStart),
      subscriptionId: sub.step.subscriptionId,
    });
    expect(run).toMatchObject({ granted: 0, grantedLate: 0, stopped: 2 });
    const after = await slotsOfInvoice(invoiceId);
    expect(after.map(({ slot }) => slot.status).slice(0, 4)).toEqual([
      "granted",
      "stopped",
      "stopped",
      "scheduled",
    ]);
    expect(after[1]?.slot).toMatchObject({ credits: 0, entryId: null, lotId: null, lotExpiresAt: null });
    expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(1);
  });

  it("canceled before the late payment: the months before the end are issued for their own length from the payment; the rest are stopped", async () => {
    const sub = await declinedYear();
    // Ended 40 days into the year (in its second month), before the payment.
    const endedAt = Math.floor((sub.year.start.getTime() + 40 * DAY) / 1000);
    await deliver("customer.subscription.deleted", {
      ...(stripe.fake.subscriptions.get(sub.providerId) as Rec),
      status: "canceled",
      ended_at: endedAt,
      canceled_at: endedAt,
    });
    const paid = stripe.fake.billing.payOpenInvoice(sub.invoice.id as string);
    const invoiceId = paid.id as string;
    const before = Date.now();
    const outcome = (await deliver("invoice.paid", paid)).outcome;
    const after = Date.now();
    expect(outcome).toContain("granted_late_2");
    expect(outcome).toContain("stopped_1");
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);

    const rows = await slotsOfInvoice(invoiceId);
    expect(rows.map(({ slot }) => slot.status).slice(0, 3)).toEqual(["granted", "granted", "stopped"]);
    for (const { slot, lot } of rows.slice(0, 2)) {
      const length = slot.periodEnd.getTime() - slot.periodStart.getTime();
      const expires = lot?.expiresAt?.getTime() ?? 0;
      expect(expires).toBeGreaterThanOrEqual(before + length - 60_000);
      expect(expires).toBeLessThanOrEqual(after + length + 60_000);
    }
    expect(rows[2]?.slot).toMatchObject({ credits: 0, entryId: null, lotId: null });
    // The job stops every later month.
    const run = await issueDueSlots(database.db, {
      now: new Date(sub.year.end.getTime() - 1000),
      subscriptionId: sub.step.subscriptionId,
    });
    expect(run).toMatchObject({ granted: 0, stopped: 9 });
    expect(await grantsOfInvoice(database.db, sub.user.id, invoiceId)).toHaveLength(2);
  });
});

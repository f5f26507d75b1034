import { and, asc, eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { creditLot, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import { useAppDatabase } from "../support/app-database";
import { signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  balanceOf as rowBalanceOf,
  grantsOfInvoice as rowGrantsOfInvoice,
  purchaseOfInvoice as rowPurchaseOfInvoice,
} from "../support/rows";
import { setUpStripeApp } from "../support/stripe-app";
import { disputeObject, testId } from "../support/stripe-events";
import {
  checkOutAtStripe,
  declinedYearAt,
  refundedChargeOf,
  yearlySubscriberAt,
} from "../support/stripe-subscriptions";
import { databaseKinds, type TestDatabase } from "../support/test-database";

// Second round of attacks on yearly plans' monthly slots: the job issuing late, disputes holding a month,
// leaving the year's billing cycle and a late invoice.paid reading the provider's subscription. Stripe is
// the local stand-in; events are signed with the SDK and go through the real webhook route; the ledger
// checker (verify) runs after every test.
const stripe = setUpStripeApp("break_late_yearly_2");

const DAY = 86_400_000;
let clock = Math.floor(Date.now() / 1000) - 7200;
const deliver = (type: string, object: Record<string, unknown>) =>
  stripe.deliver(type, object, { created: ++clock });
type Rec = Record<string, unknown>;
const plusSecond = (date: Date) => new Date(date.getTime() + 1000);

describe.each(databaseKinds())("breaking late yearly slots, round 2, on %s", (kind) => {
  let database: TestDatabase;
  const ownDatabase = () => {
    const own = useAppDatabase(kind);
    beforeAll(() => {
      database = own;
    });
  };
  afterEach(async () => {
    stripe.fake.billing.cardDeclines = false;
    stripe.fake.setMode("ok");
    await assertLedgerInvariants(database.db);
  });
  const fake = () => stripe.fake;

  const balanceOf = (userId: string, at?: Date) => rowBalanceOf(database.db, userId, at);
  const purchaseOfInvoice = (invoiceId: string) => rowPurchaseOfInvoice(database.db, invoiceId);
  const slotsOfInvoice = (invoiceId: string) =>
    database.db
      .select({ slot: subscriptionPeriodGrant, lot: creditLot })
      .from(subscriptionPeriodGrant)
      .leftJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(and(eq(subscriptionPeriodGrant.invoiceId, invoiceId), eq(subscriptionPeriodGrant.kind, "slot")))
      .orderBy(asc(subscriptionPeriodGrant.slotIndex));
  const grantsOfInvoice = (userId: string, invoiceId: string) =>
    rowGrantsOfInvoice(database.db, userId, invoiceId);
  const verifyNow = async () => (await verifyLedger(database.db)).violations;

  const yearlySubscriber = (yearStart: Date) => yearlySubscriberAt(fake(), deliver, yearStart, "brk2-year");
  /** A yearly subscriber whose renewal `daysAgo` days ago was declined: past due, the year's invoice open. */
  const declinedYear = (daysAgo = 75) => declinedYearAt(fake(), deliver, daysAgo, "brk2-year");

  /** The stand-in's price id for Pro monthly (made on first use: another customer subscribes to it). */
  async function proMonthlyPrice(): Promise<string> {
    const other = await signUp(`${testId("brk2-monthly")}@example.com`);
    await checkOutAtStripe(fake(), other, "pro-monthly");
    const id = [...fake().billing.prices.values()].find(
      (price) => (price.recurring as Rec | undefined)?.interval === "month" && price.unit_amount === 1900,
    )?.id as string;
    expect(id).toBeTruthy();
    return id;
  }

  /** The price switch an operator makes in the Dashboard (at once, proration always_invoice), delivered. */
  async function switchAtOnce(providerId: string, price: string): Promise<Rec> {
    const answer = fake().billing.handle(
      "POST",
      `/v1/subscriptions/${providerId}`,
      new URLSearchParams({ "items[0][price]": price, proration_behavior: "always_invoice" }),
      new URLSearchParams(),
    );
    expect(answer?.status).toBe(200);
    const current = fake().subscriptions.get(providerId) as Rec;
    const invoice = fake().billing.invoices.get(current.latest_invoice as string) as Rec;
    expect(invoice.status).toBe("paid");
    await deliver("customer.subscription.updated", current);
    expect((await deliver("invoice.paid", invoice)).status).toBe(200);
    return invoice;
  }

  const disputeOf = (invoiceId: string, paymentIntent: string, id: string) => (status: string) =>
    disputeObject({
      id,
      amount: 19_000,
      currency: "usd",
      charge: `ch_${invoiceId}`,
      payment_intent: paymentIntent,
      status,
    });

  describe("findings", () => {
    ownDatabase();
    /** Pro yearly 10 days in, switched at once to Pro monthly, then a second later back to Pro yearly. */
    async function yearlyMonthlyYearly() {
      const sub = await yearlySubscriber(new Date(Date.now() - 10 * DAY));
      const firstYear = sub.step.invoice;
      expect((await deliver("invoice.paid", firstYear)).outcome).toContain("granted");
      const yearlyPrice = (firstYear.lines as { data: { pricing: { price_details: { price: string } } }[] })
        .data[0]?.pricing.price_details.price as string;
      const monthly = await proMonthlyPrice();
      await switchAtOnce(sub.providerId, monthly);
      // Back to yearly a moment later: a new yearly cycle from now, paid in full less the month's unused time.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const secondYear = await switchAtOnce(sub.providerId, yearlyPrice);
      return { sub, firstYear, secondYear };
    }

    it("Pro yearly switched to monthly and back to yearly at once: the new year's later months come from the job, not stopped by the old year's slot rows", async () => {
      const { sub, secondYear } = await yearlyMonthlyYearly();
      const rows = await slotsOfInvoice(secondYear.id as string);
      expect(rows).toHaveLength(12);
      expect(rows[0]?.slot.status).toBe("granted");
      // The job as each month of the new year begins: the customer paid for this year, every month of it.
      let granted = 0;
      let stopped = 0;
      for (const { slot } of rows.slice(1)) {
        const run = await issueDueSlots(database.db, {
          now: plusSecond(slot.periodStart),
          subscriptionId: sub.step.subscriptionId,
        });
        granted += run.granted;
        stopped += run.stopped;
      }
      // (The first year's slots after the switch to monthly are stopped, as they should be: 10 of them
      // come due in the new year's months; none of the new year's may be.)
      const secondRows = await slotsOfInvoice(secondYear.id as string);
      expect(secondRows.map(({ slot }) => slot.status)).toEqual(Array(12).fill("granted"));
      expect(granted).toBe(11);
      expect(stopped).toBe(11);
    });

    it("Pro yearly switched to monthly and back to yearly at once: verify passes (the month granted before the switch and the new year's first month are both the customer's)", async () => {
      const { sub, firstYear, secondYear } = await yearlyMonthlyYearly();
      // Each switch was paid (the unused time credited toward the new price): 3,000 credits, the first
      // year's first month, the monthly period and the new year's first month.
      expect(await balanceOf(sub.user.id)).toBe(3000);
      expect((await slotsOfInvoice(firstYear.id as string))[0]?.slot.status).toBe("granted");
      expect((await slotsOfInvoice(secondYear.id as string))[0]?.slot.status).toBe("granted");
      const mine = (await verifyNow()).filter((violation) => violation.userId === sub.user.id);
      expect(mine).toEqual([]);
    });
  });

  describe("held", () => {
    ownDatabase();
    it("a half refund races the job issuing a month late: each month once, at most half taken back, verify passes; the rest refunded stops the months to come", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      await deliver("invoice.paid", paid);
      const rows = await slotsOfInvoice(invoiceId);
      const m4 = rows[4]?.slot;
      if (!m4) throw new Error("slot 4");
      // The job was down during the fourth month's predecessor: it issues the third (late) and the fourth.
      const at4 = { now: plusSecond(m4.periodStart), subscriptionId: sub.step.subscriptionId };
      await Promise.all([
        issueDueSlots(database.db, at4),
        deliver("charge.refunded", refundedChargeOf(fake(), paid, 9500)),
        issueDueSlots(database.db, at4),
      ]);
      expect(await grantsOfInvoice(sub.user.id, invoiceId)).toHaveLength(5);
      // Half of the 5,000 issued, less what expired unused before it was taken (the clawback's cap): the
      // refund event is judged at the real clock, the job at its own (a month and more ahead), so a refund
      // settled between the job's two slots finds the first three months expired by the job's clock and
      // takes 2,000; settled before or after both, 2,500. Never more than half, never a month twice.
      const purchase = await purchaseOfInvoice(invoiceId);
      expect({ issued: purchase?.creditsIssued, refunded: purchase?.amountRefunded }).toEqual({
        issued: 5000,
        refunded: 9500,
      });
      expect([2000, 2500]).toContain(purchase?.clawedBackCredits);
      expect(await balanceOf(sub.user.id, at4.now)).toBeGreaterThanOrEqual(0);
      expect(await verifyNow()).toEqual([]);
      // The rest refunded while the job runs: the months to come stop.
      await Promise.all([
        deliver("charge.refunded", refundedChargeOf(fake(), paid, 19_000)),
        issueDueSlots(database.db, {
          now: new Date(sub.year.end.getTime() - 1000),
          subscriptionId: sub.step.subscriptionId,
        }),
      ]);
      await issueDueSlots(database.db, {
        now: new Date(sub.year.end.getTime() - 1000),
        subscriptionId: sub.step.subscriptionId,
      });
      expect(
        (await slotsOfInvoice(invoiceId)).filter(({ slot }) => slot.status === "scheduled"),
      ).toHaveLength(0);
      expect(await balanceOf(sub.user.id, new Date(sub.year.end.getTime() - 1000))).toBeLessThanOrEqual(0);
      expect(await verifyNow()).toEqual([]);
    });
    it("a dispute opened, the job twice at once (held), won after the month ended, two runs at once (each month once, late one late), a second dispute lost: later months stopped", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      expect((await deliver("invoice.paid", paid)).outcome).toContain("granted_late_2");
      const purchase = await purchaseOfInvoice(invoiceId);
      const intent = purchase?.paymentIntentId ?? "";
      const first = disputeOf(invoiceId, intent, testId("dp"));
      await deliver("charge.dispute.created", first("needs_response"));
      const rows = await slotsOfInvoice(invoiceId);
      const [m3, m4, m5, m6] = [rows[3]?.slot, rows[4]?.slot, rows[5]?.slot, rows[6]?.slot];
      if (!m3 || !m4 || !m5 || !m6) throw new Error("slots");
      const at3 = { now: plusSecond(m3.periodStart), subscriptionId: sub.step.subscriptionId };
      const [a, b] = await Promise.all([issueDueSlots(database.db, at3), issueDueSlots(database.db, at3)]);
      expect(a.granted + b.granted + a.grantedLate + b.grantedLate + a.stopped + b.stopped).toBe(0);
      expect(a.held + b.held).toBeGreaterThanOrEqual(1);
      expect((await slotsOfInvoice(invoiceId))[3]?.slot.status).toBe("scheduled");
      // Won while the fourth month is under way (the third is over): both runs at once.
      await deliver("charge.dispute.closed", first("won"));
      const at4 = { now: plusSecond(m4.periodStart), subscriptionId: sub.step.subscriptionId };
      const [c, d] = await Promise.all([issueDueSlots(database.db, at4), issueDueSlots(database.db, at4)]);
      expect({ late: c.grantedLate + d.grantedLate, onTime: c.granted + d.granted }).toEqual({
        late: 1,
        onTime: 1,
      });
      expect(await grantsOfInvoice(sub.user.id, invoiceId)).toHaveLength(5);
      const after = await slotsOfInvoice(invoiceId);
      // The month found late lives until the end of the month in force, the fourth's own lot with it.
      expect(after[3]?.lot?.expiresAt).toEqual(m4.periodEnd);
      expect(await verifyNow()).toEqual([]);
      // A second dispute of the same charge (an inquiry turned chargeback), lost: the months to come stop.
      const second = disputeOf(invoiceId, intent, testId("dp"));
      await deliver("charge.dispute.created", second("needs_response"));
      const at5 = { now: plusSecond(m5.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at5)).toMatchObject({ held: 1, granted: 0 });
      await deliver("charge.dispute.closed", second("lost"));
      const at6 = { now: plusSecond(m6.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at6)).toMatchObject({ granted: 0, grantedLate: 0, stopped: 2 });
      expect(await grantsOfInvoice(sub.user.id, invoiceId)).toHaveLength(5);
      expect(await balanceOf(sub.user.id, at6.now)).toBeLessThanOrEqual(0);
      expect(await verifyNow()).toEqual([]);
    });

    it("a dispute won after the subscription ended: the held month that began before the end is issued late for its own length, the months after the end are stopped", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      const invoiceId = paid.id as string;
      await deliver("invoice.paid", paid);
      const purchase = await purchaseOfInvoice(invoiceId);
      const dispute = disputeOf(invoiceId, purchase?.paymentIntentId ?? "", testId("dp"));
      await deliver("charge.dispute.created", dispute("needs_response"));
      const rows = await slotsOfInvoice(invoiceId);
      const [m3, m4, m5] = [rows[3]?.slot, rows[4]?.slot, rows[5]?.slot];
      if (!m3 || !m4 || !m5) throw new Error("slots");
      const at3 = { now: plusSecond(m3.periodStart), subscriptionId: sub.step.subscriptionId };
      expect(await issueDueSlots(database.db, at3)).toMatchObject({ held: 1 });
      // Canceled ten days into the fourth month.
      const endedAt = Math.floor((m3.periodStart.getTime() + 10 * DAY) / 1000);
      const canceled = {
        ...(fake().subscriptions.get(sub.providerId) as Rec),
        status: "canceled",
        ended_at: endedAt,
        canceled_at: endedAt,
      };
      fake().subscriptions.set(sub.providerId, canceled);
      await deliver("customer.subscription.deleted", canceled);
      await deliver("charge.dispute.closed", dispute("won"));
      const at5 = { now: plusSecond(m5.periodStart), subscriptionId: sub.step.subscriptionId };
      const run = await issueDueSlots(database.db, at5);
      expect(run).toMatchObject({ grantedLate: 1, granted: 0, stopped: 2 });
      expect(await issueDueSlots(database.db, at5)).toMatchObject({ grantedLate: 0, granted: 0, stopped: 0 });
      const lot = (await slotsOfInvoice(invoiceId))[3]?.lot;
      const length = m3.periodEnd.getTime() - m3.periodStart.getTime();
      expect(lot?.expiresAt?.getTime()).toBe(at5.now.getTime() + length);
      expect(await grantsOfInvoice(sub.user.id, invoiceId)).toHaveLength(4);
      expect(await verifyNow()).toEqual([]);
    });

    it("the provider unreachable during a late year's invoice.paid: the event fails and grants nothing; retried once it answers, each month once", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      fake().setMode("error");
      // Stripe retries the same event: its id is kept.
      const eventId = testId("evt");
      const failed = await stripe.deliver("invoice.paid", paid, { created: ++clock, eventId });
      expect(failed.status).not.toBe(200);
      expect(await balanceOf(sub.user.id)).toBe(0);
      expect(await grantsOfInvoice(sub.user.id, paid.id as string)).toHaveLength(0);
      // The job meanwhile has nothing of this year to issue.
      expect(await issueDueSlots(database.db, { subscriptionId: sub.step.subscriptionId })).toMatchObject({
        granted: 0,
        grantedLate: 0,
      });
      fake().setMode("ok");
      expect((await stripe.deliver("invoice.paid", paid, { created: clock, eventId })).outcome).toContain(
        "granted_late_2",
      );
      expect(await balanceOf(sub.user.id)).toBe(3000);
      expect((await deliver("invoice.paid", paid)).outcome).toContain("already_granted");
      expect(await verifyNow()).toEqual([]);
    });

    it("the provider answers a stale live subscription at the late invoice.paid while our row knows it was canceled at the period's end: nothing moves back", async () => {
      const sub = await declinedYear();
      const paid = fake().billing.payOpenInvoice(sub.invoice.id as string);
      // Our row learns that the customer asked to cancel at the year's end.
      const current = fake().subscriptions.get(sub.providerId) as Rec;
      const cancelAt = Math.floor(sub.year.end.getTime() / 1000);
      await deliver("customer.subscription.updated", {
        ...current,
        cancel_at_period_end: true,
        cancel_at: cancelAt,
      });
      // The provider still answers the older object (no cancellation asked).
      fake().subscriptions.set(sub.providerId, { ...current, cancel_at_period_end: false, cancel_at: null });
      await deliver("invoice.paid", paid);
      expect(await balanceOf(sub.user.id)).toBe(3000);
      const [row] = await database.db
        .select({ cancelAtPeriodEnd: subscription.cancelAtPeriodEnd })
        .from(subscription)
        .where(eq(subscription.id, sub.step.subscriptionId));
      expect(row?.cancelAtPeriodEnd).toBe(true);
    });
  });
});

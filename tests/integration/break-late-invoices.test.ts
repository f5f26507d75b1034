import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { creditLot, subscriptionPeriodGrant } from "../../src/db/schema";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { settlePendingInvoicePurchases } from "../../src/payment/settle-pending-invoice-purchases";
import { grantPendingRollovers } from "../../src/payment/subscriptions/grant-pending-rollovers";
import { useAppDatabase } from "../support/app-database";
import { type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf, grantsOfInvoice, purchaseOfInvoice } from "../support/rows";
import { seedUser } from "../support/seed";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { disputeObject, testId } from "../support/stripe-events";
import { checkOutAtStripe, invoicePeriod, refundedChargeOf } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// Attacks on the late-invoice rules: renewals paid after their period ended, pending invoice purchases
// settled by the payment maintenance, refunds retried without an amount. Stripe is the local stand-in;
// events are signed with the SDK and go through the real webhook route; `verify` runs after each test.
const stripe = setUpStripeApp("break_late_invoices");

const DAY = 86_400_000;
const HOURS = 3600_000;
const deliver = sequencedDelivery(stripe);
type Rec = Record<string, unknown>;

describe.each(databaseKinds())("breaking late subscription invoices, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    stripe.fake.billing.cardDeclines = false;
    await assertLedgerInvariants(database.db);
  });

  const lotOfInvoice = async (invoiceId: string) => {
    const [row] = await database.db
      .select({ lot: creditLot })
      .from(subscriptionPeriodGrant)
      .innerJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(eq(subscriptionPeriodGrant.invoiceId, invoiceId));
    return row?.lot;
  };
  const spend = (userId: string, amount: number) =>
    consumeCredits(database.db, { userId, amount, description: "work", idempotencyKey: testId("w") });

  /**
   * A Pro subscriber who subscribed `daysAgo` days ago; the renewals numbered in `declined` were declined
   * (invoices still open), the others paid. Only the checkout's events were delivered.
   */
  async function subscriber(daysAgo: number, renewals: number, declined: number[]) {
    const user: SignedUpUser = await signUp(`${testId("brk-late")}@example.com`);
    const first = await checkOutAtStripe(
      stripe.fake,
      user,
      "pro-monthly",
      new Date(Date.now() - daysAgo * DAY),
    );
    await deliver("checkout.session.completed", first.session);
    await deliver("customer.subscription.created", first.subscription);
    const providerId = first.subscription.id as string;
    const steps: { invoice: Rec; subscription: Rec; period: { start: Date; end: Date } }[] = [];
    for (let n = 2; n < 2 + renewals; n++) {
      stripe.fake.billing.cardDeclines = declined.includes(n);
      const step = stripe.fake.billing.renew(providerId);
      stripe.fake.billing.cardDeclines = false;
      if (!step.invoice || !step.subscription) throw new Error("renewal invoiced");
      steps.push({
        invoice: step.invoice,
        subscription: step.subscription,
        period: invoicePeriod(step.invoice),
      });
    }
    return { user, first, providerId, steps };
  }

  /**
   * subscriber(70, 2, [2]) with period 3 (in force now) paid and delivered, and period 2's declined renewal
   * then paid at Stripe: `late`, whose invoice.paid each test delivers itself.
   */
  async function periodTwoPaidLate() {
    const sub = await subscriber(70, 2, [2]);
    const [p2, p3] = sub.steps;
    if (!p2 || !p3) throw new Error("two renewals");
    await deliver("customer.subscription.updated", p3.subscription);
    await deliver("invoice.paid", p3.invoice);
    const late = stripe.fake.billing.payOpenInvoice(p2.invoice.id as string);
    return { sub, p3, late };
  }

  /**
   * The next renewal paid and delivered, then the rollovers that waited for `ending` granted just after it
   * ended (the sweep's job); returns that moment.
   */
  async function renewAndRollOver(providerId: string, ending: { end: Date }) {
    const next = stripe.fake.billing.renew(providerId);
    if (!next.invoice) throw new Error("renewal invoiced");
    await deliver("invoice.paid", next.invoice);
    const after = new Date(ending.end.getTime() + 1000);
    await grantPendingRollovers(database.db, { now: after });
    return after;
  }

  it("two periods paid late (2 and 3), period 4 current: each granted once until period 4 ends; period 4's carry counts them spent first", async () => {
    const sub = await subscriber(100, 3, [2, 3]);
    const [p2, p3, p4] = sub.steps;
    if (!p2 || !p3 || !p4) throw new Error("three renewals");
    expect(p3.period.end.getTime()).toBeLessThan(Date.now());
    expect(p4.period.start.getTime()).toBeLessThanOrEqual(Date.now());
    expect(p4.period.end.getTime()).toBeGreaterThan(Date.now());
    await deliver("customer.subscription.updated", p4.subscription);
    expect((await deliver("invoice.paid", p4.invoice)).outcome).toContain("granted");
    const late3 = stripe.fake.billing.payOpenInvoice(p3.invoice.id as string);
    const late2 = stripe.fake.billing.payOpenInvoice(p2.invoice.id as string);
    // Reordered: period 3's late payment delivered before period 2's, each twice at once.
    const outcomes = await Promise.all([
      deliver("invoice.paid", late3),
      deliver("invoice.paid", late3),
      deliver("invoice.paid", late2),
      deliver("invoice.paid", late2),
    ]);
    expect(outcomes.filter((o) => o.outcome === "granted_late")).toHaveLength(2);
    expect(await balanceOf(database.db, sub.user.id)).toBe(3000);
    for (const late of [late2, late3]) {
      expect(await grantsOfInvoice(database.db, sub.user.id, late.id as string)).toHaveLength(1);
      expect((await lotOfInvoice(late.id as string))?.expiresAt).toEqual(p4.period.end);
      expect(await purchaseOfInvoice(database.db, late.id as string)).toMatchObject({
        status: "succeeded",
        credits: 1000,
      });
    }
    await spend(sub.user.id, 500);
    const afterFourth = await renewAndRollOver(sub.providerId, p4.period);
    const carried = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, sub.user.id), eq(creditLot.source, "rollover")));
    // 500 spent of the late 2,000 first: period 4's own 1,000 are unspent and carry (the cap), nothing more.
    expect(carried.map((lot) => lot.credits)).toEqual([1000]);
    expect(await balanceOf(database.db, sub.user.id, afterFourth)).toBe(2000);
  });

  it("late payment known before period 3's snapshot (stale row): period 3's carry never turns the late credits into its own", async () => {
    const sub = await subscriber(70, 2, [2]);
    const [p2, p3] = sub.steps;
    if (!p2 || !p3) throw new Error("two renewals");
    // Nothing about period 3 has arrived: the late payment cannot know the period in force.
    const late = stripe.fake.billing.payOpenInvoice(p2.invoice.id as string);
    expect((await deliver("invoice.paid", late)).outcome).toBe("granted_late");
    const lateLot = await lotOfInvoice(late.id as string);
    expect(lateLot?.expiresAt?.getTime()).toBeGreaterThan(Date.now());
    await deliver("customer.subscription.updated", p3.subscription);
    expect((await deliver("invoice.paid", p3.invoice)).outcome).toContain("granted");
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    await spend(sub.user.id, 500);
    const afterThird = await renewAndRollOver(sub.providerId, p3.period);
    // 2,000 granted for periods 2 and 3, 500 spent: at most 1,500 of them can still be alive, plus period 4's 1,000.
    const alive = await balanceOf(database.db, sub.user.id, afterThird);
    expect(alive).toBeLessThanOrEqual(2500);
    // And never less than the late credits left plus period 4's (late credits live on; nothing of the customer's is wiped).
    expect(alive).toBeGreaterThanOrEqual(2000);
  });

  it("canceled, then the late payment, then customer.subscription.deleted redelivered: credits live the paid period's length; full refund takes them back", async () => {
    const sub = await subscriber(70, 2, [2]);
    const [p2, p3] = sub.steps;
    if (!p2 || !p3) throw new Error("two renewals");
    const canceled = {
      ...p3.subscription,
      status: "canceled",
      ended_at: Math.floor(Date.now() / 1000) - 60,
      canceled_at: Math.floor(Date.now() / 1000) - 60,
    };
    await deliver("customer.subscription.deleted", canceled);
    const late = stripe.fake.billing.payOpenInvoice(p2.invoice.id as string);
    const paidAt = Date.now();
    expect((await deliver("invoice.paid", late)).outcome).toBe("granted_late");
    await deliver("customer.subscription.deleted", canceled);
    // An older updated (period 3 active) delivered after the deletion moves nothing back.
    await deliver("customer.subscription.updated", p3.subscription);
    expect((await deliver("invoice.paid", late)).outcome).toContain("already_granted");
    const length = p2.period.end.getTime() - p2.period.start.getTime();
    const expiresAt = (await lotOfInvoice(late.id as string))?.expiresAt?.getTime() ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(paidAt + length - 60_000);
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    expect(await balanceOf(database.db, sub.user.id)).toBe(0);
    expect(await purchaseOfInvoice(database.db, late.id as string)).toMatchObject({
      clawedBackCredits: 1000,
    });
  });

  it("late payment spent in part, then refunded in full: the spent part becomes debt, never more taken than granted", async () => {
    const { sub, late } = await periodTwoPaidLate();
    await deliver("invoice.paid", late);
    await spend(sub.user.id, 1500);
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    // 2,000 granted, 1,500 spent, the late 1,000 refunded: nothing left and 500 owed.
    const account = await getBalance(database.db, sub.user.id);
    expect({ balance: account.balance, debt: account.debt }).toEqual({ balance: 0, debt: 500 });
    expect(await purchaseOfInvoice(database.db, late.id as string)).toMatchObject({
      clawedBackCredits: 1000,
    });
  });

  /** A Pro subscriber whose renewal (paid at Stripe) was refunded by `refunded` before its invoice.paid. */
  async function refundedBeforeInvoicePaid(refunded: number) {
    const user = await signUp(`${testId("brk-pending")}@example.com`);
    const first = await checkOutAtStripe(stripe.fake, user);
    await deliver("checkout.session.completed", first.session);
    await deliver("customer.subscription.created", first.subscription);
    await deliver("invoice.paid", first.invoice);
    const renewal = stripe.fake.billing.renew(first.subscription.id as string).invoice;
    if (!renewal) throw new Error("renewal invoiced");
    expect((await deliver("charge.refunded", refundedChargeOf(stripe.fake, renewal, refunded))).outcome).toBe(
      "awaiting_grant",
    );
    return { user, renewal, invoiceId: renewal.id as string };
  }

  it("two maintenance runs and the real invoice.paid at once: applied once, the early refund settled once", async () => {
    const { user, renewal, invoiceId } = await refundedBeforeInvoicePaid(950);
    const provider = getPaymentProvider(database.db);
    const later = { now: new Date(Date.now() + 2 * HOURS) };
    await Promise.all([
      settlePendingInvoicePurchases(database.db, provider, later),
      settlePendingInvoicePurchases(database.db, getPaymentProvider(database.db), later),
      deliver("invoice.paid", renewal),
    ]);
    await deliver("invoice.paid", renewal);
    expect(await grantsOfInvoice(database.db, user.id, invoiceId)).toHaveLength(1);
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
      status: "succeeded",
      credits: 1000,
      amountRefunded: 950,
      clawedBackCredits: 500,
    });
    expect(await balanceOf(database.db, user.id)).toBe(1500);
  });

  it("marked invoice_unpaid (uncollectible), then Stripe collects it: invoice.paid grants and the early refund is still taken back", async () => {
    const { user, renewal, invoiceId } = await refundedBeforeInvoicePaid(950);
    const invoice = stripe.fake.billing.invoices.get(invoiceId);
    if (!invoice) throw new Error("invoice kept by the stand-in");
    invoice.status = "uncollectible";
    const provider = getPaymentProvider(database.db);
    await settlePendingInvoicePurchases(database.db, provider, { now: new Date(Date.now() + 2 * HOURS) });
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ status: "invoice_unpaid" });
    invoice.status = "paid";
    expect((await deliver("invoice.paid", { ...renewal, status: "paid" })).outcome).toContain("granted");
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
      status: "succeeded",
      amountRefunded: 950,
      clawedBackCredits: 500,
    });
    expect(await balanceOf(database.db, user.id)).toBe(1500);
    // A later maintenance run leaves the completed purchase alone.
    expect(
      await settlePendingInvoicePurchases(database.db, provider, { now: new Date(Date.now() + 3 * HOURS) }),
    ).toMatchObject({ applied: 0, unpaid: 0 });
  });

  it("a declined renewal paid late and refunded before its invoice.paid, which never comes: maintenance grants it late with the refund settled", async () => {
    const { sub, p3, late } = await periodTwoPaidLate();
    expect((await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 950))).outcome).toBe(
      "awaiting_grant",
    );
    const report = await settlePendingInvoicePurchases(database.db, getPaymentProvider(database.db), {
      now: new Date(Date.now() + 2 * HOURS),
    });
    expect(report).toMatchObject({ applied: 1 });
    expect(await purchaseOfInvoice(database.db, late.id as string)).toMatchObject({
      status: "succeeded",
      credits: 1000,
      clawedBackCredits: 500,
    });
    expect((await lotOfInvoice(late.id as string))?.expiresAt).toEqual(p3.period.end);
    // Period 3's 1,000 and the late 1,000 less the refunded half.
    expect(await balanceOf(database.db, sub.user.id)).toBe(1500);
    expect((await deliver("invoice.paid", late)).outcome).toContain("already_granted");
    expect(await balanceOf(database.db, sub.user.id)).toBe(1500);
  });

  it("FINDING 1: a paid invoice that grants no credits, refunded before its invoice.paid: the purchase never leaves pending, maintenance asks Stripe forever", async () => {
    // A paid invoice whose lines are worth no credits by the rules (here: its only line a proration
    // credit, `proration_nothing`; in life e.g. Pro → Max → Pro → Max in one period, whose second upgrade
    // is paid but grants nothing because Max's level was already reached), refunded in the Dashboard
    // before its invoice.paid arrived.
    const sub = await subscriber(40, 1, []);
    const [p2] = sub.steps;
    if (!p2) throw new Error("one renewal");
    const stored = stripe.fake.billing.invoices.get(p2.invoice.id as string) as Rec;
    const line = (stored.lines as { data: Rec[] }).data[0] as {
      amount: number;
      parent: { subscription_item_details: Rec };
    };
    line.parent.subscription_item_details.proration = true;
    line.amount = -500;
    expect((await deliver("charge.refunded", refundedChargeOf(stripe.fake, stored, 1900))).outcome).toBe(
      "awaiting_grant",
    );
    // The real invoice.paid arrives after all, and maintenance runs later.
    expect((await deliver("invoice.paid", stored)).outcome).toContain("proration_nothing");
    const provider = getPaymentProvider(database.db);
    const later = { now: new Date(Date.now() + 2 * HOURS) };
    await settlePendingInvoicePurchases(database.db, provider, later);
    // Nothing was granted for it and nothing is taken back ...
    expect(await balanceOf(database.db, sub.user.id)).toBe(0);
    // ... but the purchase must leave `pending` (its invoice is paid, its refund recorded), and a later
    // run must have nothing left to ask Stripe about.
    expect((await purchaseOfInvoice(database.db, p2.invoice.id as string))?.status).not.toBe("pending");
    expect(await settlePendingInvoicePurchases(database.db, provider, later)).toMatchObject({ checked: 0 });
  });

  it("a late invoice disputed, then the dispute won: its credits come back, usable as long as the late lot was", async () => {
    const { sub, p3, late } = await periodTwoPaidLate();
    expect((await deliver("invoice.paid", late)).outcome).toBe("granted_late");
    const purchase = await purchaseOfInvoice(database.db, late.id as string);
    const disputeId = testId("dp");
    const dispute = (status: string) =>
      disputeObject({
        id: disputeId,
        amount: 1900,
        currency: "usd",
        charge: `ch_${late.id as string}`,
        payment_intent: purchase?.paymentIntentId ?? "",
        status,
      });
    await deliver("charge.dispute.created", dispute("needs_response"));
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    await deliver("charge.dispute.closed", dispute("won"));
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    const returned = (
      await database.db.select().from(creditLot).where(eq(creditLot.userId, sub.user.id))
    ).find((lot) => lot.source === "dispute_reversal");
    // Never a lot that expired at birth: as long as the late lot it replaces (period 3's end).
    expect(returned?.expiresAt).toEqual(p3.period.end);
  });

  it("a late invoice refunded in full, then disputed and lost: nothing taken twice", async () => {
    const { sub, late } = await periodTwoPaidLate();
    await deliver("invoice.paid", late);
    const purchase = await purchaseOfInvoice(database.db, late.id as string);
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    const dispute = (status: string) =>
      disputeObject({
        id: "dp_after_refund",
        amount: 1900,
        currency: "usd",
        charge: `ch_${late.id as string}`,
        payment_intent: purchase?.paymentIntentId ?? "",
        status,
      });
    await deliver("charge.dispute.created", dispute("needs_response"));
    await deliver("charge.dispute.closed", dispute("lost"));
    const account = await getBalance(database.db, sub.user.id);
    expect({ balance: account.balance, debt: account.debt }).toEqual({ balance: 1000, debt: 0 });
  });

  it("FINDING 2: late credits count as spent first at the carry, so a full refund of the late invoice afterwards takes back what was spent of them", async () => {
    const { sub, p3, late } = await periodTwoPaidLate();
    expect((await deliver("invoice.paid", late)).outcome).toBe("granted_late");
    await spend(sub.user.id, 500);
    const afterThird = await renewAndRollOver(sub.providerId, p3.period);
    // The carry treated the 500 spent as the late credits: period 3's own 1,000 carried in full.
    expect(await balanceOf(database.db, sub.user.id, afterThird)).toBe(2000);
    // Refunded in full: the late invoice's credits were 500 spent (by the carry's own account) and 500
    // expired unused, so 500 are taken back; taking nothing would leave the spent 500 paid by no one
    // while period 3's credits, carried as unspent, live on.
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    expect(await purchaseOfInvoice(database.db, late.id as string)).toMatchObject({ clawedBackCredits: 500 });
    expect(await balanceOf(database.db, sub.user.id, afterThird)).toBe(1500);
  });

  it("FINDING 3: both of a carry's invoices (period 3's and the late period 2's) refunded in full after the carry: no credit of theirs lives on", async () => {
    const { sub, p3, late } = await periodTwoPaidLate();
    await deliver("invoice.paid", late);
    await spend(sub.user.id, 500);
    const afterThird = await renewAndRollOver(sub.providerId, p3.period);
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, p3.invoice, 1900));
    // 2,000 granted by the two invoices, 500 spent, both refunded in full: the 1,000 they carried go back
    // and the 500 spent are taken from the rest (period 4's 1,000): 500 left, never 1,000 or more.
    const account = await getBalance(database.db, sub.user.id, afterThird);
    expect(account.balance).toBe(500);
  });

  it("refunds of a late invoice raced: the same id twice and another id, all without an amount: one refund at Stripe", async () => {
    const { sub, late } = await periodTwoPaidLate();
    await deliver("invoice.paid", late);
    const purchase = await purchaseOfInvoice(database.db, late.id as string);
    if (!purchase) throw new Error("the late invoice is a purchase");
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    const admin = { userId: adminId, label: "ops@example.test" };
    const provider = getPaymentProvider(database.db);
    const refund = (requestId: string) =>
      refundPurchase(database.db, provider, { purchaseId: purchase.id, reason: "late", requestId }, admin);
    const before = stripe.fake.billing.refunds.length;
    const results = await Promise.allSettled([refund("rest-a"), refund("rest-a"), refund("rest-b")]);
    const made = stripe.fake.billing.refunds.slice(before);
    expect(new Set(made.map((r) => r.id)).size).toBe(1);
    expect(made.every((r) => r.amount === null || r.amount <= 1900)).toBe(true);
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "refund_not_possible" });
    await deliver("charge.refunded", refundedChargeOf(stripe.fake, late, 1900));
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    // Retried after the event: the same refund, nothing more asked.
    const asked = stripe.fake.billing.refunds.length;
    await Promise.allSettled([refund("rest-a"), refund("rest-b")]);
    await expect(refund("rest-c")).rejects.toMatchObject({ code: "refund_not_possible" });
    expect(new Set(stripe.fake.billing.refunds.slice(asked).map((r) => r.id)).size).toBeLessThanOrEqual(1);
    for (const r of stripe.fake.billing.refunds.slice(asked)) expect(made.map((m) => m.id)).toContain(r.id);
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
  });
});

import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { creditLot, subscriptionPeriodGrant } from "../../src/db/schema";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { grantPendingRollovers } from "../../src/payment/subscriptions/grant-pending-rollovers";
import { useAppDatabase } from "../support/app-database";
import { type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf, grantsOfInvoice, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { chargeObject, testId } from "../support/stripe-events";
import { checkOutAtStripe, invoicePeriod } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// A renewal invoice paid after its period ended (a declined renewal paid at last, or its invoice.paid
// delivered late): the customer paid, so the payment is the invoice's purchase (refundable like any other)
// and the period's 1,000 credits are granted once, living until the end of the billing period in force when
// the money arrived (or the paid period's length from then, once the subscription has ended). Stripe is the
// local stand-in; events are signed with the SDK and go through the real webhook route.
const stripe = setUpStripeApp("late_period_payment");

const DAY = 86_400_000;
const deliver = sequencedDelivery(stripe);

describe.each(databaseKinds())("a renewal paid after its period ended, on %s", (kind) => {
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

  /**
   * A Pro subscriber who subscribed 70 days ago: period 1 is long over, period 2's renewal was declined
   * (its invoice still open), period 3 (which holds today) was invoiced and paid. Nothing of period 1 or 3
   * has been delivered yet.
   */
  async function declinedRenewal() {
    const user: SignedUpUser = await signUp(`${testId("late-pay")}@example.com`);
    const first = await checkOutAtStripe(stripe.fake, user, "pro-monthly", new Date(Date.now() - 70 * DAY));
    await deliver("checkout.session.completed", first.session);
    await deliver("customer.subscription.created", first.subscription);
    const providerId = first.subscription.id as string;
    stripe.fake.billing.cardDeclines = true;
    const second = stripe.fake.billing.renew(providerId);
    stripe.fake.billing.cardDeclines = false;
    const third = stripe.fake.billing.renew(providerId);
    if (!second.invoice || !third.invoice) throw new Error("renewals invoiced");
    expect(second.invoice.status).toBe("open");
    const secondPeriod = invoicePeriod(second.invoice);
    const thirdPeriod = invoicePeriod(third.invoice);
    // The premise: period 2 is over by the real clock, period 3 holds today.
    expect(secondPeriod.end.getTime()).toBeLessThan(Date.now());
    expect(thirdPeriod.start.getTime()).toBeLessThanOrEqual(Date.now());
    expect(thirdPeriod.end.getTime()).toBeGreaterThan(Date.now());
    return {
      user,
      providerId,
      second: second.invoice,
      third: { invoice: third.invoice, subscription: third.subscription },
      secondPeriod,
      thirdPeriod,
    };
  }

  it("paid after period 3 was granted: 1,000 credits until period 3 ends, recorded as a refundable purchase, once", async () => {
    const sub = await declinedRenewal();
    await deliver("customer.subscription.updated", sub.third.subscription);
    expect((await deliver("invoice.paid", sub.third.invoice)).outcome).toContain("granted");
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);

    const paidLate = stripe.fake.billing.payOpenInvoice(sub.second.id as string);
    const outcomes = await Promise.all([
      deliver("invoice.paid", paidLate),
      deliver("invoice.paid", paidLate),
    ]);
    await deliver("invoice.paid", paidLate);
    expect(outcomes.map((o) => o.outcome)).toContain("granted_late");
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    expect(await grantsOfInvoice(database.db, sub.user.id, paidLate.id as string)).toHaveLength(1);
    // Usable until the billing period in force at payment ends: never an already-expired lot.
    expect((await lotOfInvoice(paidLate.id as string))?.expiresAt).toEqual(sub.thirdPeriod.end);
    const purchase = await purchaseOfInvoice(database.db, paidLate.id as string);
    expect(purchase).toMatchObject({ status: "succeeded", credits: 1000, amount: 1900 });
    expect(purchase?.paymentIntentId).toBeTruthy();

    // Admin refunds it like any other purchase; the refund's event takes the period's credits back.
    if (!purchase) throw new Error("the late invoice is a purchase");
    const before = stripe.fake.billing.refunds.length;
    await refundPurchase(
      database.db,
      getPaymentProvider(database.db),
      { purchaseId: purchase.id, reason: "paid for a month already over" },
      { userId: sub.user.id, label: "ops@example.test" },
    );
    expect(stripe.fake.billing.refunds.slice(before)).toEqual([
      expect.objectContaining({ paymentIntent: purchase.paymentIntentId }),
    ]);
    await deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_${paidLate.id as string}`,
        amount: 1900,
        currency: "usd",
        payment_intent: purchase.paymentIntentId ?? "",
        amount_refunded: 1900,
      }),
    );
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    expect(await purchaseOfInvoice(database.db, paidLate.id as string)).toMatchObject({
      clawedBackCredits: 1000,
    });
  });

  it("the late invoice.paid before period 3's: the same lot, the same expiry, each period granted once", async () => {
    const sub = await declinedRenewal();
    // Stripe's subscription (current period 3) is known; period 3's invoice.paid has not arrived yet.
    await deliver("customer.subscription.updated", sub.third.subscription);
    const paidLate = stripe.fake.billing.payOpenInvoice(sub.second.id as string);
    expect((await deliver("invoice.paid", paidLate)).outcome).toBe("granted_late");
    expect((await deliver("invoice.paid", sub.third.invoice)).outcome).toContain("granted");
    await Promise.all([deliver("invoice.paid", paidLate), deliver("invoice.paid", sub.third.invoice)]);
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    expect((await lotOfInvoice(paidLate.id as string))?.expiresAt).toEqual(sub.thirdPeriod.end);
    expect(await grantsOfInvoice(database.db, sub.user.id, paidLate.id as string)).toHaveLength(1);
    expect(await grantsOfInvoice(database.db, sub.user.id, sub.third.invoice.id as string)).toHaveLength(1);
  });

  it("a partial refund of the late invoice takes back its share of the period's credits", async () => {
    const sub = await declinedRenewal();
    await deliver("customer.subscription.updated", sub.third.subscription);
    const paidLate = stripe.fake.billing.payOpenInvoice(sub.second.id as string);
    await deliver("invoice.paid", paidLate);
    const purchase = await purchaseOfInvoice(database.db, paidLate.id as string);
    await deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_${paidLate.id as string}`,
        amount: 1900,
        currency: "usd",
        payment_intent: purchase?.paymentIntentId ?? "",
        amount_refunded: 950,
      }),
    );
    expect(await balanceOf(database.db, sub.user.id)).toBe(500);
  });

  it("the subscription was canceled before the late payment: the credits live the paid period's length from the payment", async () => {
    const sub = await declinedRenewal();
    await deliver("customer.subscription.deleted", {
      ...sub.third.subscription,
      status: "canceled",
      ended_at: Math.floor(Date.now() / 1000) - 60,
      canceled_at: Math.floor(Date.now() / 1000) - 60,
    });
    const paidLate = stripe.fake.billing.payOpenInvoice(sub.second.id as string);
    const paidAt = Date.now();
    expect((await deliver("invoice.paid", paidLate)).outcome).toBe("granted_late");
    const length = sub.secondPeriod.end.getTime() - sub.secondPeriod.start.getTime();
    const expiresAt = (await lotOfInvoice(paidLate.id as string))?.expiresAt?.getTime() ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(paidAt + length - 60_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + length + 60_000);
    expect(await balanceOf(database.db, sub.user.id)).toBe(1000);
    expect(await purchaseOfInvoice(database.db, paidLate.id as string)).toMatchObject({ credits: 1000 });
  });

  it("period 3's carry counts the late credits as spent first and never carries them", async () => {
    const sub = await declinedRenewal();
    await deliver("customer.subscription.updated", sub.third.subscription);
    await deliver("invoice.paid", sub.third.invoice);
    await deliver("invoice.paid", stripe.fake.billing.payOpenInvoice(sub.second.id as string));
    await consumeCredits(database.db, {
      userId: sub.user.id,
      amount: 500,
      description: "work",
      idempotencyKey: testId("w"),
    });
    const fourth = stripe.fake.billing.renew(sub.providerId);
    if (!fourth.invoice) throw new Error("renewal invoiced");
    expect((await deliver("invoice.paid", fourth.invoice)).outcome).toBe("granted+pending");
    const afterThird = new Date(sub.thirdPeriod.end.getTime() + 1000);
    await grantPendingRollovers(database.db, { now: afterThird });
    // 500 of the 2,000 spent, the late 1,000 first: period 3's own 1,000 are unspent and carry (the cap).
    const carried = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, sub.user.id), eq(creditLot.source, "rollover")));
    expect(carried.map((lot) => lot.credits)).toEqual([1000]);
    expect((await getBalance(database.db, sub.user.id, afterThird)).balance).toBe(2000);
  });
});

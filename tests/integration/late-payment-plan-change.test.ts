import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { creditLot, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf } from "../support/route-handlers";
import { balanceOf, grantsOfInvoice, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { testId } from "../support/stripe-events";
import { checkOutAtStripe, invoicePeriod } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// Attacks on a late renewal payment during a plan change: a renewal declined, the plan changed (Pro → Max
// at once, or Max → Pro at the period's end) while that invoice is unpaid, then the old invoice paid late;
// and the same events in the reverse order. Each invoice's period is granted once, from the invoice's own
// lines (never the plan the subscription is on now), and nothing the customer holds is taken. Stripe is the
// local stand-in; events are signed with the SDK and go through the real webhook route.
const stripe = setUpStripeApp("late_payment_plan_change");

const DAY = 86_400_000;
const deliver = sequencedDelivery(stripe);
const subscriptionPatch = handlerOf(changeSubscription);
type Rec = Record<string, unknown>;

describe.each(databaseKinds())("a late renewal payment during a plan change, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    stripe.fake.billing.cardDeclines = false;
    await assertLedgerInvariants(database.db);
  });

  const rowOf = async (userId: string) =>
    (await database.db.select().from(subscription).where(eq(subscription.userId, userId)))[0];
  const grantOfInvoice = async (invoiceId: string) =>
    (
      await database.db
        .select({ grant: subscriptionPeriodGrant, lot: creditLot })
        .from(subscriptionPeriodGrant)
        .leftJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
        .where(eq(subscriptionPeriodGrant.invoiceId, invoiceId))
    )[0];
  const patch = (user: SignedUpUser, planId: string) =>
    subscriptionPatch(
      appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
    );

  /**
   * A subscriber to `planId` whose renewal (the "declined" period) was declined and is still open, and
   * whose next period (the "current" one, holding today) was invoiced and paid; its events delivered.
   * `startedAt` is when Checkout was paid (a Max subscription starts with its 7-day trial).
   */
  async function declinedThenRenewed(planId: string, startedAt: Date) {
    const user = await signUp(`${testId("late-change")}@example.com`);
    const first = await checkOutAtStripe(stripe.fake, user, planId, startedAt);
    await deliver("checkout.session.completed", first.session);
    await deliver("customer.subscription.created", first.subscription);
    const providerId = first.subscription.id as string;
    stripe.fake.billing.cardDeclines = true;
    const declined = stripe.fake.billing.renew(providerId);
    stripe.fake.billing.cardDeclines = false;
    if (!declined.invoice) throw new Error("renewal invoiced");
    expect(declined.invoice.status).toBe("open");
    // What the app hears while the renewal is unpaid: the subscription is past due.
    const pastDue = structuredClone(declined.subscription);
    await deliver("customer.subscription.updated", pastDue);
    // While past due, the app asks for the invoice to be paid first: no plan change, no charge.
    expect((await patch(user, planId === "max-monthly" ? "pro-monthly" : "max-monthly")).status).toBe(409);

    const current = stripe.fake.billing.renew(providerId);
    if (!current.invoice) throw new Error("renewal invoiced");
    const declinedPeriod = invoicePeriod(declined.invoice);
    const currentPeriod = invoicePeriod(current.invoice);
    // The premise: the declined period is over by the real clock; the current one holds today.
    expect(declinedPeriod.end.getTime()).toBeLessThan(Date.now());
    expect(currentPeriod.start.getTime()).toBeLessThanOrEqual(Date.now());
    expect(currentPeriod.end.getTime()).toBeGreaterThan(Date.now());
    await deliver("customer.subscription.updated", current.subscription);
    expect((await deliver("invoice.paid", current.invoice)).outcome).toContain("granted");
    return { user, providerId, declined: declined.invoice, current: current.invoice, currentPeriod };
  }

  /** Pro → Max now through the app: its proration invoice paid and delivered. Returns its credits. */
  async function upgradeToMax(user: SignedUpUser, providerId: string) {
    const upgraded = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await patch(user, "max-monthly"),
    );
    expect(upgraded).toMatchObject({ status: 200, body: { change: { kind: "changed_now" } } });
    const invoice = stripe.fake.billing.invoices.get(upgraded.body.change.invoiceId) ?? {};
    await deliver("customer.subscription.updated", stripe.fake.subscriptions.get(providerId) ?? {});
    expect((await deliver("invoice.paid", invoice)).outcome).toBe("proration_granted");
    return { invoice, credits: (await grantOfInvoice(invoice.id as string))?.grant.credits ?? 0 };
  }

  /** The declined invoice paid at last, delivered twice at once: granted once, from its own lines. */
  async function payLate(user: SignedUpUser, declined: Rec) {
    const paid = stripe.fake.billing.payOpenInvoice(declined.id as string);
    const outcomes = await Promise.all([deliver("invoice.paid", paid), deliver("invoice.paid", paid)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(["already_granted", "granted_late"]);
    expect(await grantsOfInvoice(database.db, user.id, paid.id as string)).toHaveLength(1);
    return paid;
  }

  it("Pro renewal declined, upgraded to Max, then the old invoice paid late: Pro's 1,000 for it (not Max's), usable until the current period ends; the upgrade's difference untouched", async () => {
    const sub = await declinedThenRenewed("pro-monthly", new Date(Date.now() - 70 * DAY));
    const upgrade = await upgradeToMax(sub.user, sub.providerId);
    expect(upgrade.credits).toBeGreaterThan(0);
    expect((await rowOf(sub.user.id))?.planId).toBe("max-monthly");
    const before = await balanceOf(database.db, sub.user.id);
    expect(before).toBe(1000 + upgrade.credits);

    const paid = await payLate(sub.user, sub.declined);
    expect(await balanceOf(database.db, sub.user.id)).toBe(before + 1000);
    const late = await grantOfInvoice(paid.id as string);
    expect(late?.grant).toMatchObject({ planId: "pro-monthly", credits: 1000, status: "granted" });
    expect(late?.lot?.expiresAt).toEqual(sub.currentPeriod.end);
    expect(await purchaseOfInvoice(database.db, paid.id as string)).toMatchObject({
      packageId: "pro-monthly",
      credits: 1000,
      amount: 1900,
    });

    // Every invoice again, in any order: nothing more, nothing taken.
    await Promise.all([
      deliver("invoice.paid", upgrade.invoice),
      deliver("invoice.paid", sub.current),
      deliver("invoice.paid", paid),
    ]);
    expect(await balanceOf(database.db, sub.user.id)).toBe(before + 1000);
    expect((await grantOfInvoice(upgrade.invoice.id as string))?.grant.credits).toBe(upgrade.credits);
  });

  it("the reverse order: the old Pro invoice paid late first, then the upgrade: the same credits for each invoice", async () => {
    const sub = await declinedThenRenewed("pro-monthly", new Date(Date.now() - 70 * DAY));
    const paid = await payLate(sub.user, sub.declined);
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000);
    const upgrade = await upgradeToMax(sub.user, sub.providerId);
    // The late Pro period is no level of the current period: the upgrade grants Max − Pro for the rest of
    // it, as without the late payment (4,000 a month, prorated, rounded down).
    const grant = (await grantOfInvoice(upgrade.invoice.id as string))?.grant;
    if (!grant) throw new Error("upgrade granted");
    const whole = sub.currentPeriod.end.getTime() - sub.currentPeriod.start.getTime();
    const rest = grant.periodEnd.getTime() - grant.periodStart.getTime();
    expect(upgrade.credits).toBe(Math.floor((4000 * Math.floor(rest / 1000)) / Math.floor(whole / 1000)));
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000 + upgrade.credits);
    expect((await grantOfInvoice(paid.id as string))?.grant).toMatchObject({
      planId: "pro-monthly",
      credits: 1000,
    });
    await deliver("invoice.paid", paid);
    await deliver("invoice.paid", upgrade.invoice);
    expect(await balanceOf(database.db, sub.user.id)).toBe(2000 + upgrade.credits);
  });

  it("Max renewal declined, downgrade to Pro scheduled and then applied, then the old invoice paid late: Max's 5,000 from its own line, never the Pro plan now in force", async () => {
    // Checkout 52 days ago: a 7-day trial (its $0 invoice not delivered), the first Max month declined.
    const sub = await declinedThenRenewed("max-monthly", new Date(Date.now() - 52 * DAY));
    expect(await balanceOf(database.db, sub.user.id)).toBe(5000);
    const scheduled = await readJson(await patch(sub.user, "pro-monthly"));
    expect(scheduled).toMatchObject({ status: 200, body: { change: { kind: "scheduled" } } });
    // The period's end comes (ahead of the real clock): the next period bills Pro and the row says Pro.
    const next = stripe.fake.billing.renew(sub.providerId);
    expect(next.invoice).toMatchObject({ amount_paid: 1900 });
    await deliver("customer.subscription.updated", next.subscription);
    expect((await rowOf(sub.user.id))?.planId).toBe("pro-monthly");

    const paid = await payLate(sub.user, sub.declined);
    expect(await balanceOf(database.db, sub.user.id)).toBe(10_000);
    const late = await grantOfInvoice(paid.id as string);
    expect(late?.grant).toMatchObject({ planId: "max-monthly", credits: 5000 });
    // Usable until the period in force at payment ends (the current Max period), not the future Pro one.
    expect(late?.lot?.expiresAt).toEqual(sub.currentPeriod.end);
    expect(await purchaseOfInvoice(database.db, paid.id as string)).toMatchObject({
      packageId: "max-monthly",
      credits: 5000,
      amount: 4900,
    });
    // The Pro period's own invoice grants Pro's 1,000 once; the Max credits stay.
    expect((await deliver("invoice.paid", next.invoice ?? {})).outcome).toContain("granted");
    await deliver("invoice.paid", next.invoice ?? {});
    await deliver("invoice.paid", paid);
    expect(await balanceOf(database.db, sub.user.id)).toBeGreaterThanOrEqual(10_000);
    expect(await grantsOfInvoice(database.db, sub.user.id, next.invoice?.id as string)).toHaveLength(1);
  });

  it("the reverse order: the old Max invoice paid late first, then the downgrade: Max's 5,000 kept, the current period untouched", async () => {
    const sub = await declinedThenRenewed("max-monthly", new Date(Date.now() - 52 * DAY));
    const paid = await payLate(sub.user, sub.declined);
    expect(await balanceOf(database.db, sub.user.id)).toBe(10_000);
    const scheduled = await readJson(await patch(sub.user, "pro-monthly"));
    expect(scheduled).toMatchObject({ status: 200, body: { change: { kind: "scheduled" } } });
    await deliver("customer.subscription.updated", stripe.fake.subscriptions.get(sub.providerId) ?? {});
    expect(await balanceOf(database.db, sub.user.id)).toBe(10_000);
    expect((await grantOfInvoice(paid.id as string))?.grant).toMatchObject({
      planId: "max-monthly",
      credits: 5000,
    });
  });
});

import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listPurchases } from "../../src/admin/list-purchases";
import { getBalance } from "../../src/credits/get-balance";
import {
  creditPurchase,
  invoiceProrationCredit,
  paymentCustomer,
  subscription,
  subscriptionPeriodGrant,
  webhookFailure,
} from "../../src/db/schema";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { resolveWebhookFailure } from "../../src/payment/webhooks/record-webhook-failure";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf, purchasesPost, webhookPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import { chargeObject, deliverStripeEvent, testId } from "../support/stripe-events";
import { checkOutAtStripe } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// Stripe is the provider, its API the local stand-in (fake-stripe.ts, fake-stripe-billing.ts); what Stripe
// sends comes back as signed events through the real webhook route.
const WEBHOOK_SECRET = "whsec_test_stripe_outside_subscriptions";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_stripe_outside_subscriptions",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_stripe_outside_subscriptions",
    STRIPE_API_BASE: fake.url,
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const subscriptionPatch = handlerOf(changeSubscription);
const DAY_MS = 24 * 60 * 60 * 1000;

let clock = Math.floor(Date.now() / 1000) - 3600;
const deliver = (type: string, object: Record<string, unknown>, eventId?: string, created = ++clock) =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, {
    created,
    ...(eventId ? { eventId } : {}),
  });

describe.each(databaseKinds())("Stripe subscriptions and refunds the app did not start (%s)", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    await assertLedgerInvariants(database.db);
  });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const rowsOf = (userId: string) =>
    database.db.select().from(subscription).where(eq(subscription.userId, userId));
  const purchasesOf = (userId: string) =>
    database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, userId), eq(creditPurchase.kind, "subscription_invoice")))
      .orderBy(creditPurchase.createdAt);
  /** The stored failure of an event; then dismissed, as an operator would once read (verify counts open ones). */
  const failureOf = async (eventId: string) => {
    const [failure] = await database.db
      .select()
      .from(webhookFailure)
      .where(eq(webhookFailure.eventId, eventId));
    await resolveWebhookFailure(database.db, eventId, { by: "ops@example.test", outcome: "dismissed" });
    return failure;
  };

  /** Subscribed to `planId` through Checkout, paid `daysAgo` days ago (the period started then). */
  async function subscribed(planId = "pro-monthly", daysAgo = 0) {
    const user = await signUp(`${testId("outside")}@example.com`);
    const step = await checkOutAtStripe(fake, user, planId, new Date(Date.now() - daysAgo * DAY_MS));
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    return { user, step, providerId: step.subscription.id as string };
  }

  /** A user with a Stripe customer made by the app (a package bought), and no subscription. */
  async function customerOfApp(): Promise<{ user: SignedUpUser; customerId: string }> {
    const user = await signUp(`${testId("outside")}@example.com`);
    const bought = await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
    );
    expect(bought.status).toBe(201);
    const [customer] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    if (!customer) throw new Error("no customer made");
    return { user, customerId: customer.customerId };
  }

  /** The fake's price with our lookup key for a plan (made by the app's first checkout of it, or here). */
  function priceWithKey(lookupKey: string, unitAmount: number, interval: "month" | "year") {
    const found = [...fake.billing.prices.values()].find((price) => price.lookup_key === lookupKey);
    return (found?.id as string | undefined) ?? fake.billing.addPrice({ unitAmount, interval, lookupKey });
  }

  describe("refunds of an invoice a proration credited back", () => {
    it("after monthly → yearly the monthly invoice refunds at most what the yearly invoice did not credit; a Dashboard refund beyond is recorded", async () => {
      const { user, step } = await subscribed("pro-monthly", 15);
      const switched = await readJson<{ change: { kind: string; invoiceId: string } }>(
        await subscriptionPatch(
          appRequest("/api/credits/subscription", {
            method: "PATCH",
            cookie: user.cookie,
            json: { planId: "pro-yearly" },
          }),
        ),
      );
      expect(switched).toMatchObject({ status: 200, body: { change: { kind: "changed_now" } } });
      const yearlyInvoice = fake.billing.invoices.get(switched.body.change.invoiceId) ?? {};
      const creditLine = (yearlyInvoice.lines as { data: { amount: number }[] }).data.find(
        (line) => line.amount < 0,
      );
      const credit = -(creditLine?.amount ?? 0);
      // Half a month unused, give or take the month's length.
      expect(credit).toBeGreaterThan(800);
      expect(credit).toBeLessThan(1100);
      expect((await deliver("invoice.paid", yearlyInvoice)).outcome).toMatch(/^granted\+scheduled_11/);
      await deliver("invoice.paid", yearlyInvoice);

      // Stripe's line names the invoice it credits: recorded once, against the Checkout invoice.
      const credits = await database.db
        .select()
        .from(invoiceProrationCredit)
        .where(eq(invoiceProrationCredit.creditingInvoiceId, yearlyInvoice.id as string));
      expect(credits).toEqual([
        expect.objectContaining({ creditedInvoiceId: step.invoice.id, amount: credit, source: "line" }),
      ]);

      const [monthly] = await purchasesOf(user.id);
      if (!monthly) throw new Error("no monthly purchase");
      const rest = 1900 - credit;
      expect(
        (await listPurchases(database.db, { limit: 200 })).find((p) => p.id === monthly.id),
      ).toMatchObject({
        creditedByProration: credit,
        refundable: rest,
      });
      const admin = {
        userId: await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" }),
        label: "ops@example.test",
      };
      const provider = getPaymentProvider(database.db);
      const refund = (amount?: number) =>
        refundPurchase(
          database.db,
          provider,
          { purchaseId: monthly.id, reason: "customer asked", ...(amount ? { amount } : {}) },
          admin,
        );
      const asked = fake.billing.refunds.length;
      await expect(refund(1900)).rejects.toMatchObject({
        code: "refund_not_possible",
        context: { refundable: rest, creditedByProration: credit },
      });
      expect(fake.billing.refunds).toHaveLength(asked);
      // "Refund the rest" sends Stripe the rest as an amount: left to Stripe, it would refund the whole charge.
      await refund();
      expect(fake.billing.refunds.at(-1)).toMatchObject({
        paymentIntent: monthly.paymentIntentId,
        amount: rest,
      });

      // A refund made in Stripe's Dashboard of the whole charge is a fact: recorded, never refused.
      const charge = chargeObject({
        id: testId("ch"),
        amount: 1900,
        currency: "usd",
        payment_intent: monthly.paymentIntentId ?? "",
        amount_refunded: 1900,
      });
      expect((await deliver("charge.refunded", charge)).status).toBe(200);
      const [after] = await purchasesOf(user.id);
      expect(after?.amountRefunded).toBe(1900);
      expect(
        (await listPurchases(database.db, { limit: 200 })).find((p) => p.id === monthly.id)?.refundable,
      ).toBe(0);
    });

    it("after Pro → Max the Pro invoice's refundable amount drops by the upgrade's credit", async () => {
      const { user, step } = await subscribed("pro-monthly", 10);
      const upgraded = await readJson<{ change: { invoiceId: string } }>(
        await subscriptionPatch(
          appRequest("/api/credits/subscription", {
            method: "PATCH",
            cookie: user.cookie,
            json: { planId: "max-monthly" },
          }),
        ),
      );
      const invoice = fake.billing.invoices.get(upgraded.body.change.invoiceId) ?? {};
      expect((await deliver("invoice.paid", invoice)).outcome).toBe("proration_granted");
      const credit = -(
        (invoice.lines as { data: { amount: number }[] }).data.find((l) => l.amount < 0)?.amount ?? 0
      );
      expect(credit).toBeGreaterThan(0);
      const pro = (await purchasesOf(user.id)).find((p) => p.invoiceId === step.invoice.id);
      expect((await listPurchases(database.db, { limit: 200 })).find((p) => p.id === pro?.id)).toMatchObject({
        refundable: 1900 - credit,
      });
    });
  });

  describe("a subscription started in Stripe's Dashboard", () => {
    it("for a customer of the app on a price of ours: adopted by invoice.paid, granted once; created after it changes nothing", async () => {
      const { user, customerId } = await customerOfApp();
      await subscribed("pro-monthly"); // the app's Pro price exists (plan_price)
      const price = priceWithKey("creditkit:pro-monthly:1900:usd", 1900, "month");
      const outside = fake.billing.subscribeOutsideApp(customerId, price);

      const eventId = testId("evt");
      expect((await deliver("invoice.paid", outside.invoice, eventId)).outcome).toBe("granted");
      expect((await deliver("invoice.paid", outside.invoice, eventId)).outcome).toBe("duplicate");
      expect((await deliver("invoice.paid", outside.invoice)).outcome).toBe("already_granted");
      // Stripe dated it before the invoice's payment; it arrives late.
      const createdAt = clock - 10;
      expect(
        (await deliver("customer.subscription.created", outside.subscription, undefined, createdAt)).outcome,
      ).toBe("stale");
      expect(await balanceOf(user.id)).toBe(1000);
      const rows = await rowsOf(user.id);
      expect(rows).toEqual([
        expect.objectContaining({
          providerSubscriptionId: outside.subscription.id,
          customerId,
          planId: "pro-monthly",
          status: "active",
          adoptedAt: expect.any(Date),
        }),
      ]);
      // Its invoice is a purchase as any other: refundable from Admin → Purchases.
      expect(await purchasesOf(user.id)).toEqual([
        expect.objectContaining({ invoiceId: outside.invoice.id, amount: 1900, credits: 1000 }),
      ]);
      // The next renewal grants the next period.
      const renewal = fake.billing.renew(outside.subscription.id as string);
      expect((await deliver("invoice.paid", renewal.invoice ?? {})).outcome).toMatch(/^granted/);
      expect(
        await database.db
          .select()
          .from(subscriptionPeriodGrant)
          .where(eq(subscriptionPeriodGrant.userId, user.id)),
      ).toHaveLength(2);
    });

    it("customer.subscription.created first adopts (a price with our lookup key the app never recorded); invoice.paid then grants once", async () => {
      const { user, customerId } = await customerOfApp();
      // Max's price made by hand in the Dashboard with our lookup key (the app has not sold Max here yet).
      const price = priceWithKey("creditkit:max-monthly:4900:usd", 4900, "month");
      const outside = fake.billing.subscribeOutsideApp(customerId, price);
      expect((await deliver("customer.subscription.created", outside.subscription)).outcome).toBe("adopted");
      expect((await deliver("customer.subscription.created", outside.subscription)).outcome).not.toBe(
        "adopted",
      );
      expect(await balanceOf(user.id)).toBe(0);
      expect((await deliver("invoice.paid", outside.invoice)).outcome).toBe("granted");
      expect((await deliver("invoice.paid", outside.invoice)).outcome).toBe("already_granted");
      expect(await balanceOf(user.id)).toBe(5000);
      expect(await rowsOf(user.id)).toEqual([expect.objectContaining({ planId: "max-monthly" })]);
    });

    it("the same invoice.paid delivered concurrently under several event ids adopts one row and grants once", async () => {
      const { user, customerId } = await customerOfApp();
      const price = priceWithKey("creditkit:pro-monthly:1900:usd", 1900, "month");
      const outside = fake.billing.subscribeOutsideApp(customerId, price);
      const outcomes = (
        await Promise.all([
          deliver("invoice.paid", outside.invoice),
          deliver("customer.subscription.created", outside.subscription),
          deliver("invoice.paid", outside.invoice),
        ])
      ).map((delivery) => delivery.status);
      expect(outcomes).toEqual([200, 200, 200]);
      expect(await balanceOf(user.id)).toBe(1000);
      expect(await rowsOf(user.id)).toHaveLength(1);
    });

    it("a customer the app did not make: refused, stored as a failed webhook with the reason, nothing granted", async () => {
      const customerId = `cus_${randomUUID().slice(0, 8)}`;
      fake.billing.customers.set(customerId, {
        id: customerId,
        object: "customer",
        email: null,
        metadata: {},
      });
      const price = priceWithKey("creditkit:pro-monthly:1900:usd", 1900, "month");
      const outside = fake.billing.subscribeOutsideApp(customerId, price);
      expect((await deliver("customer.subscription.created", outside.subscription)).outcome).toBe(
        "unknown_subscription",
      );
      const eventId = testId("evt");
      const delivered = await deliver("invoice.paid", outside.invoice, eventId);
      expect(delivered.status).toBeGreaterThanOrEqual(400);
      expect((await failureOf(eventId))?.reason).toMatch(
        new RegExp(`${outside.subscription.id}.*customer ${customerId} is not one this app made for a user`),
      );
      expect(
        await database.db
          .select()
          .from(subscription)
          .where(eq(subscription.providerSubscriptionId, outside.subscription.id as string)),
      ).toEqual([]);
    });

    it("a price that is not ours, or a user who already has a subscription: refused with the reason, nothing granted", async () => {
      const { user, customerId } = await customerOfApp();
      const foreign = fake.billing.addPrice({ unitAmount: 2500, interval: "month", lookupKey: null });
      const outside = fake.billing.subscribeOutsideApp(customerId, foreign);
      const eventId = testId("evt");
      expect((await deliver("invoice.paid", outside.invoice, eventId)).status).toBeGreaterThanOrEqual(400);
      expect((await failureOf(eventId))?.reason).toMatch(/is not one of this app's plan prices/);
      expect(await balanceOf(user.id)).toBe(0);
      expect(await rowsOf(user.id)).toEqual([]);

      const { user: subscriber } = await subscribed("pro-monthly");
      const [customer] = await database.db
        .select()
        .from(paymentCustomer)
        .where(eq(paymentCustomer.userId, subscriber.id));
      const price = priceWithKey("creditkit:pro-monthly:1900:usd", 1900, "month");
      const second = fake.billing.subscribeOutsideApp(customer?.customerId ?? "", price);
      const secondEvent = testId("evt");
      expect((await deliver("invoice.paid", second.invoice, secondEvent)).status).toBeGreaterThanOrEqual(400);
      expect((await failureOf(secondEvent))?.reason).toMatch(/already has subscription/);
      expect(await balanceOf(subscriber.id)).toBe(1000);
      expect(await rowsOf(subscriber.id)).toHaveLength(1);
    });
  });
});

import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { creditPurchase, paymentCustomer, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import changeSubscription from "../../src/routes/credits/change-subscription";
import openBillingPortal from "../../src/routes/credits/open-billing-portal";
import { useAppDatabase } from "../support/app-database";
import { APP_ORIGIN, appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import {
  handlerOf,
  purchasesPost,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
  webhookPost,
} from "../support/route-handlers";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import { deliverStripeEvent, testId } from "../support/stripe-events";
import { databaseKinds } from "../support/test-database";

// Stripe is the provider; its API is the local stand-in (fake-stripe.ts with fake-stripe-billing.ts), which
// also plays Stripe's own side (a customer finishing Checkout, a renewal). Its objects come back to the app
// as signed events through the real webhook route, as Stripe would send them.
const WEBHOOK_SECRET = "whsec_test_stripe_subscriptions_suite";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_stripe_subscriptions",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_stripe_subscriptions",
    STRIPE_API_BASE: fake.url,
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const subscriptionPatch = handlerOf(changeSubscription);
const portalPost = handlerOf(openBillingPortal);

// Events are dated one second apart in the order they are delivered: the order Stripe would send them.
let clock = Math.floor(Date.now() / 1000) - 3600;

const deliver = (type: string, object: Record<string, unknown>) =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, { created: ++clock });

describe.each(databaseKinds())("subscriptions with Stripe (local stand-in) on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(() => {
    fake.billing.cardDeclines = false;
  });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const rowOf = async (userId: string) =>
    (await database.db.select().from(subscription).where(eq(subscription.userId, userId))).sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime(),
    )[0];

  async function startCheckout(user: SignedUpUser, planId: string) {
    return readJson<{ subscriptionId: string; checkoutUrl: string; provider: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
      ),
    );
  }

  /** Signs up, subscribes through Checkout and delivers what Stripe sends when the customer pays. */
  async function subscribed(planId = "pro-monthly") {
    const user = await signUp(`${testId("stripe")}@example.com`);
    const started = await startCheckout(user, planId);
    expect(started.status).toBe(201);
    const sessionId = started.body.checkoutUrl.split("/").pop() ?? "";
    const step = fake.billing.completeCheckout(sessionId);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    return {
      user,
      step,
      subscriptionId: started.body.subscriptionId,
      providerId: step.subscription.id as string,
    };
  }

  it("subscribe through Checkout: the session names the user's one customer and the plan's price; only invoice.paid grants, once", async () => {
    const user = await signUp(`${testId("stripe")}@example.com`);
    const started = await startCheckout(user, "pro-monthly");
    expect(started).toMatchObject({ status: 201, body: { provider: "stripe" } });
    const sessionId = started.body.checkoutUrl.split("/").pop() ?? "";
    const session = fake.billing.sessions.get(sessionId);
    expect(started.body.checkoutUrl).toBe(session?.url);
    const [customer] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    const price = fake.billing.prices.get(session?.line_items_price as string);
    expect(session).toMatchObject({
      mode: "subscription",
      customer: customer?.customerId,
      client_reference_id: started.body.subscriptionId,
      subscription_data: { metadata: { subscriptionId: started.body.subscriptionId, userId: user.id } },
    });
    expect(price).toMatchObject({
      lookup_key: "creditkit:pro-monthly:1900:usd",
      unit_amount: 1900,
      currency: "usd",
    });
    expect(fake.billing.customers.get(customer?.customerId ?? "")).toMatchObject({
      email: user.email,
      metadata: { userId: user.id },
    });

    const step = fake.billing.completeCheckout(sessionId);
    expect((await deliver("checkout.session.completed", step.session)).outcome).toBe("linked");
    expect((await deliver("customer.subscription.created", step.subscription)).outcome).toBe("applied");
    expect(await balanceOf(user.id)).toBe(0);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(1000);
    expect(await rowOf(user.id)).toMatchObject({
      providerSubscriptionId: step.subscription.id,
      status: "active",
      planId: "pro-monthly",
    });

    // The event never lists the invoice's payments: the PaymentIntent a refund will name is asked of Stripe.
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    expect(purchase?.paymentIntentId).toMatch(/^pi_inv_fake_/);

    // A second subscribe while one is active is refused; the price is made once, found by its lookup key after.
    expect((await startCheckout(user, "max-monthly")).status).toBe(409);
    const other = await signUp(`${testId("stripe")}@example.com`);
    await startCheckout(other, "pro-monthly");
    expect(
      [...fake.billing.prices.values()].filter((p) => p.lookup_key === "creditkit:pro-monthly:1900:usd"),
    ).toHaveLength(1);
  });

  it("an upgrade is invoiced at Stripe and granted by its invoice.paid; a declined card changes nothing", async () => {
    const { user, providerId } = await subscribed();
    fake.billing.cardDeclines = true;
    const declined = await readJson(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "max-monthly" },
        }),
      ),
    );
    expect(declined).toMatchObject({ status: 402, body: { error: { code: "card_declined" } } });
    expect(fake.subscriptions.get(providerId)?.pending_update).not.toBeNull();
    expect((await rowOf(user.id))?.planId).toBe("pro-monthly");
    expect(await balanceOf(user.id)).toBe(1000);

    fake.billing.cardDeclines = false;
    fake.subscriptions.get(providerId)!.pending_update = null;
    const upgraded = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "max-monthly" },
        }),
      ),
    );
    expect(upgraded).toMatchObject({ status: 200, body: { change: { kind: "changed_now" } } });
    const invoice = fake.billing.invoices.get(upgraded.body.change.invoiceId);
    expect(invoice).toMatchObject({ status: "paid", billing_reason: "subscription_update" });
    await deliver("customer.subscription.updated", fake.subscriptions.get(providerId) ?? {});
    expect((await deliver("invoice.paid", invoice ?? {})).outcome).toBe("proration_granted");
    await deliver("invoice.paid", invoice ?? {});
    const [proration] = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, user.id), eq(subscriptionPeriodGrant.kind, "proration")));
    // The difference (4,000 a month) for the rest of a period that began moments ago, rounded down.
    expect(proration?.credits).toBeGreaterThan(3990);
    expect(proration?.credits).toBeLessThanOrEqual(4000);
    expect(await balanceOf(user.id)).toBe(1000 + (proration?.credits ?? 0));
    expect((await rowOf(user.id))?.planId).toBe("max-monthly");
  });

  it("a downgrade waits for the period's end in a subscription schedule; naming the plan in force takes it back; the renewal bills the new plan", async () => {
    const { user, providerId } = await subscribed();
    const patch = (planId: string) =>
      subscriptionPatch(
        appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
      );
    await patch("max-monthly");
    const upgrade =
      fake.billing.invoices.get(fake.subscriptions.get(providerId)?.latest_invoice as string) ?? {};
    await deliver("customer.subscription.updated", fake.subscriptions.get(providerId) ?? {});
    await deliver("invoice.paid", upgrade);
    const afterUpgrade = await balanceOf(user.id);

    const scheduled = await readJson<{
      change: { kind: string; at: string };
      subscription: { scheduledPlanId: string };
    }>(await patch("pro-monthly"));
    expect(scheduled).toMatchObject({
      status: 200,
      body: { change: { kind: "scheduled" }, subscription: { scheduledPlanId: "pro-monthly" } },
    });
    const sub = fake.subscriptions.get(providerId) ?? {};
    const schedule = fake.billing.schedules.get(sub.schedule as string);
    const items = sub.items as { data: { current_period_end: number }[] };
    expect(scheduled.body.change.at).toBe(
      new Date((items.data[0]?.current_period_end ?? 0) * 1000).toISOString(),
    );
    expect((schedule?.phases as { items: { price: string }[] }[] | undefined)?.[1]?.items[0]?.price).toBe(
      [...fake.billing.prices.values()].find((p) => p.lookup_key === "creditkit:pro-monthly:1900:usd")?.id,
    );
    // Stripe's event names the schedule by id only: what the app knows stays.
    await deliver("customer.subscription.updated", sub);
    expect((await rowOf(user.id))?.scheduledPlanId).toBe("pro-monthly");

    expect((await readJson(await patch("max-monthly"))).body).toMatchObject({
      change: { kind: "unscheduled" },
    });
    expect(schedule?.status).toBe("released");
    expect((await rowOf(user.id))?.scheduledPlanId).toBeNull();

    await patch("pro-monthly");
    const renewal = fake.billing.renew(providerId);
    expect(renewal.invoice).toMatchObject({ amount_paid: 1900 });
    await deliver("customer.subscription.updated", renewal.subscription);
    expect((await deliver("invoice.paid", renewal.invoice ?? {})).outcome).toMatch(/^granted/);
    expect(await rowOf(user.id)).toMatchObject({ planId: "pro-monthly", scheduledPlanId: null });
    expect(await balanceOf(user.id)).toBe(afterUpgrade + 1000);
  });

  it("cancel: cancel_at_period_end at Stripe (a waiting downgrade released first), shown at once; the period's end grants nothing", async () => {
    const { user, providerId } = await subscribed();
    const cancelled = await readJson(
      await subscriptionDelete(
        appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      ),
    );
    expect(cancelled).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
    expect(fake.subscriptions.get(providerId)?.cancel_at_period_end).toBe(true);
    const ended = fake.billing.renew(providerId);
    expect(ended.invoice).toBeUndefined();
    await deliver("customer.subscription.deleted", ended.subscription);
    expect((await rowOf(user.id))?.status).toBe("canceled");
    expect(await balanceOf(user.id)).toBe(1000);
    const current = await readJson(
      await subscriptionGet(appRequest("/api/credits/subscription", { cookie: user.cookie })),
    );
    expect(current.status).toBe(200);
  });

  it("the customer portal opens for the user's customer; a user who never paid has none (404)", async () => {
    const { user } = await subscribed();
    const [customer] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    const portal = await readJson<{ url: string }>(
      await portalPost(
        appRequest("/api/credits/subscription/portal", { method: "POST", cookie: user.cookie }),
      ),
    );
    expect(portal.status).toBe(200);
    const session = fake.billing.portalSessions.at(-1);
    expect(portal.body.url).toBe(session?.url);
    expect(session).toMatchObject({
      customer: customer?.customerId,
      return_url: `${APP_ORIGIN}/settings/credits`,
    });

    // The portal applies the plan rules: plans on sale only, upgrades invoiced now, downgrades at the
    // period's end, cancellation at the period's end; made once, found again by its metadata after.
    const configuration = fake.billing.portalConfigurations.find((c) => c.id === session?.configuration);
    expect(configuration).toMatchObject({
      features: {
        subscription_cancel: { enabled: "true", mode: "at_period_end" },
        subscription_update: {
          enabled: "true",
          proration_behavior: "always_invoice",
          schedule_at_period_end: {
            conditions: { "0": { type: "decreasing_item_amount" }, "1": { type: "shortening_interval" } },
          },
        },
      },
    });
    type Offered = { subscription_update: { products: Record<string, { prices: Record<string, string> }> } };
    const offered = Object.values(
      (configuration?.features as Offered | undefined)?.subscription_update.products ?? {},
    ).map((product) => product.prices["0"]);
    const lookupKeys = offered.map((id) => fake.billing.prices.get(id ?? "")?.lookup_key).sort();
    expect(lookupKeys).toEqual([
      "creditkit:max-monthly:4900:usd",
      "creditkit:pro-monthly:1900:usd",
      "creditkit:pro-yearly:19000:usd",
    ]);
    await portalPost(appRequest("/api/credits/subscription/portal", { method: "POST", cookie: user.cookie }));
    expect(fake.billing.portalSessions.at(-1)?.configuration).toBe(session?.configuration);
    expect(fake.billing.portalConfigurations).toHaveLength(1);

    const newcomer = await signUp(`${testId("stripe")}@example.com`);
    const none = await readJson(
      await portalPost(
        appRequest("/api/credits/subscription/portal", { method: "POST", cookie: newcomer.cookie }),
      ),
    );
    expect(none).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });

  it("a package bought after subscribing is paid by the same Stripe customer", async () => {
    const { user } = await subscribed();
    const [customer] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    const bought = await readJson<{ paymentIntentId: string }>(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
      ),
    );
    expect(bought.status).toBe(201);
    const created = fake.requests.filter((request) => request.path === "/v1/payment_intents").at(-1);
    expect(created?.form.get("customer")).toBe(customer?.customerId);
    expect(fake.billing.customers.size).toBeGreaterThan(0);
    expect(
      [...fake.billing.customers.values()].filter(
        (c) => (c.metadata as { userId?: string }).userId === user.id,
      ),
    ).toHaveLength(1);
  });

  it("a plan's trial goes to Checkout as trial_period_days, once per user; its $0 invoice grants the trial's credits", async () => {
    const user = await signUp(`${testId("stripe")}@example.com`);
    const started = await startCheckout(user, "max-monthly");
    const sessionId = started.body.checkoutUrl.split("/").pop() ?? "";
    expect(fake.billing.sessions.get(sessionId)?.subscription_data).toMatchObject({ trial_period_days: "7" });
    const step = fake.billing.completeCheckout(sessionId);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toMatch(/trial_granted/);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(500);
    expect(await rowOf(user.id)).toMatchObject({ status: "trialing", planId: "max-monthly" });

    // Cancelled, then subscribed again: no second trial.
    await subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
    );
    await deliver(
      "customer.subscription.deleted",
      fake.billing.renew(step.subscription.id as string).subscription,
    );
    const again = await startCheckout(user, "max-monthly");
    expect(again.status).toBe(201);
    const second = fake.billing.sessions.get(again.body.checkoutUrl.split("/").pop() ?? "");
    expect(second?.subscription_data).not.toHaveProperty("trial_period_days");
  });

  it("checkout.session.expired abandons the waiting subscription, so the user can subscribe again", async () => {
    const user = await signUp(`${testId("stripe")}@example.com`);
    const first = await startCheckout(user, "pro-monthly");
    const session = fake.billing.sessions.get(first.body.checkoutUrl.split("/").pop() ?? "") ?? {};
    session.status = "expired";
    expect((await deliver("checkout.session.expired", session)).outcome).toBe("abandoned");
    expect((await deliver("checkout.session.expired", session)).outcome).toBe("nothing_to_abandon");
    expect((await rowOf(user.id))?.status).toBe("abandoned");
    const again = await startCheckout(user, "pro-monthly");
    expect(again.status).toBe(201);
    expect(again.body.subscriptionId).not.toBe(first.body.subscriptionId);
    expect(await balanceOf(user.id)).toBe(0);
  });
});

import http from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { findPlan } from "../../src/catalog/plans";
import { getBalance } from "../../src/credits/get-balance";
import { paymentCustomer, subscription, subscriptionPeriodGrant, webhookEvent } from "../../src/db/schema";
import { createStripeClient } from "../../src/payment/stripe/stripe-client";
import { ensureStripePrice } from "../../src/payment/stripe/stripe-plan-price";
import changeSubscription from "../../src/routes/credits/change-subscription";
import openBillingPortal from "../../src/routes/credits/open-billing-portal";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import {
  handlerOf,
  purchasesPost,
  subscriptionDelete,
  subscriptionsPost,
  webhookPost,
} from "../support/route-handlers";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import {
  type Delivery,
  deliverStripeEvent,
  invoiceLineObject,
  invoiceObject,
  testId,
} from "../support/stripe-events";
import { databaseKinds } from "../support/test-database";

// Hostile and careless uses of the Stripe side of subscriptions, against the local Stripe stand-in
// (fake-stripe.ts + fake-stripe-billing.ts). Between the app and the stand-in sits a small proxy (below)
// that can answer any one call with an error of our choosing, so a single step of a flow can fail while
// the others work (fake.setMode fails them all). Each test states what should happen; a failing test is a
// finding (see the report).

type Rec = Record<string, unknown>;
type Answer = { status: number; body: unknown };
type Fault = (call: { method: string; path: string; form: URLSearchParams }) => Answer | undefined;

let fault: Fault | undefined;
/**
 * Stripe saves the answer of the first request of an idempotency key once the endpoint began, and answers
 * it again to every retry with that key for 24 hours, "including 500 errors"
 * (https://docs.stripe.com/api/idempotent_requests). The stand-in does not; while this is set the proxy
 * does, for the 5xx answers it injected.
 */
let stripeReplaysErrors = false;
const savedErrors = new Map<string, Answer>();

const apiError = (status: number, type: string, message: string, code?: string): Answer => ({
  status,
  body: { error: { type, message, ...(code ? { code } : {}) } },
});
const stripeDown = (): Answer => apiError(500, "api_error", "An unknown error occurred.");

/** A proxy in front of the stand-in: each request is offered to `fault` first, else forwarded as it is. */
async function startFaultProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const method = req.method ?? "GET";
      const key =
        typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : undefined;
      const saved = key && stripeReplaysErrors ? savedErrors.get(`${url.pathname}:${key}`) : undefined;
      const injected = saved ?? fault?.({ method, path: url.pathname, form: new URLSearchParams(body) });
      if (injected && key && stripeReplaysErrors && injected.status >= 500)
        savedErrors.set(`${url.pathname}:${key}`, injected);
      if (injected) {
        res.writeHead(injected.status, { "content-type": "application/json", "request-id": "req_proxy" });
        res.end(JSON.stringify(injected.body));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.headers))
        if (typeof value === "string" && key !== "host" && key !== "content-length") headers[key] = value;
      const answer = await fetch(`${target}${req.url}`, {
        method,
        headers,
        ...(method === "GET" || method === "DELETE" ? {} : { body }),
      });
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "request-id": answer.headers.get("request-id") ?? "req_proxy",
      });
      res.end(await answer.text());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const WEBHOOK_SECRET = "whsec_test_break_stripe_subscriptions";
let fake: FakeStripe;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let serverEnv: TestServerEnv;

// A price at "Stripe" with the lookup key of the yearly plan that bills every two years: planted before the
// app ever asks for that plan (no other test here uses pro-yearly).
const ROGUE_YEARLY_PRICE = "price_rogue_two_yearly";

beforeAll(async () => {
  fake = await startFakeStripe();
  proxy = await startFaultProxy(fake.url);
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_break_stripe_subscriptions",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_break_stripe_subscriptions",
    STRIPE_API_BASE: proxy.url,
  });
  fake.billing.prices.set(ROGUE_YEARLY_PRICE, {
    id: ROGUE_YEARLY_PRICE,
    object: "price",
    active: true,
    currency: "usd",
    unit_amount: 19000,
    lookup_key: "creditkit:pro-yearly:19000:usd",
    recurring: { interval: "year", interval_count: 2, usage_type: "licensed" },
    product: "prod_rogue",
    metadata: {},
    type: "recurring",
  });
});
afterAll(async () => {
  await proxy?.close();
  await fake?.close();
  serverEnv?.cleanup();
});

const subscriptionPatch = handlerOf(changeSubscription);
const portalPost = handlerOf(openBillingPortal);

let clock = Math.floor(Date.now() / 1000) - 3600;

/** A signed event through the real webhook route; `eventId` fixed to play Stripe's redelivery of one event. */
const deliver = (type: string, object: Rec, eventId = testId("evt")): Promise<Delivery> =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, { created: ++clock, eventId });

const sessionIdOf = (checkoutUrl: string) => checkoutUrl.split("/").pop() ?? "";
const priceIdOfKey = (lookupKey: string) =>
  [...fake.billing.prices.values()].find((price) => price.lookup_key === lookupKey)?.id as string;

describe.each(databaseKinds())("breaking subscriptions with Stripe on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(() => {
    fault = undefined;
    stripeReplaysErrors = false;
    fake.setMode("ok");
    fake.billing.cardDeclines = false;
  });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const rowsOf = async (userId: string) =>
    (await database.db.select().from(subscription).where(eq(subscription.userId, userId))).sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime(),
    );
  const rowOf = async (userId: string) => (await rowsOf(userId))[0];
  const newUser = () => signUp(`${testId("break")}@example.com`);

  const startCheckout = async (user: SignedUpUser, planId: string) =>
    readJson<{ subscriptionId: string; checkoutUrl: string; provider: string; error?: { code: string } }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
      ),
    );
  const patchPlan = async (user: SignedUpUser, planId: string) =>
    readJson<{ change?: { kind: string; invoiceId?: string }; error?: { code: string } }>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
      ),
    );
  const cancel = async (user: SignedUpUser) =>
    readJson(
      await subscriptionDelete(
        appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      ),
    );
  const periodCredits = async (userId: string) =>
    (
      await database.db
        .select()
        .from(subscriptionPeriodGrant)
        .where(eq(subscriptionPeriodGrant.userId, userId))
    ).reduce((sum, row) => sum + row.credits, 0);

  async function subscribed(planId = "pro-monthly") {
    const user = await newUser();
    // A plan's trial is once per user ever: these users had theirs (a subscription that was offered one
    // and started, long ended), so the plan is paid and granted in full from the first invoice.
    if (findPlan(planId)?.trial)
      await database.db.insert(subscription).values({
        userId: user.id,
        provider: "stripe",
        planId,
        status: "canceled",
        trialOfferedDays: findPlan(planId)?.trial?.days,
        createdAt: new Date(Date.now() - 86_400_000),
      });
    const started = await startCheckout(user, planId);
    expect(started.status).toBe(201);
    const step = fake.billing.completeCheckout(sessionIdOf(started.body.checkoutUrl));
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

  // ---- Checkout: leaving it, choosing again ----

  it("choosing another plan while the first Checkout is still open starts that plan (the open session is expired at Stripe), instead of 409 until Stripe expires it a day later", async () => {
    const user = await newUser();
    const first = await startCheckout(user, "pro-monthly");
    expect(first.status).toBe(201);
    // The customer closes Stripe's page and, back on the credits page, picks Max instead.
    const second = await startCheckout(user, "max-monthly");
    expect(second.status).toBe(201);
    expect(fake.billing.sessions.get(sessionIdOf(first.body.checkoutUrl))?.status).toBe("expired");
    expect(second.body.subscriptionId).not.toBe(first.body.subscriptionId);
  });

  it("held: three concurrent subscribes of one user to one plan make one customer, one row and one Checkout session", async () => {
    const user = await newUser();
    const answers = await Promise.all([1, 2, 3].map(() => startCheckout(user, "pro-monthly")));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.subscriptionId)).size).toBe(1);
    expect(new Set(answers.map((a) => a.body.checkoutUrl)).size).toBe(1);
    expect(await rowsOf(user.id)).toHaveLength(1);
    const customers = [...fake.billing.customers.values()].filter(
      (c) => (c.metadata as { userId?: string }).userId === user.id,
    );
    expect(customers).toHaveLength(1);
    expect(
      [...fake.billing.sessions.values()].filter(
        (s) => s.client_reference_id === answers[0]?.body.subscriptionId,
      ),
    ).toHaveLength(1);
  });

  it("held: concurrent subscribes of one user to two plans start one of them; the other is refused, nothing half-made", async () => {
    const user = await newUser();
    const answers = await Promise.all([
      startCheckout(user, "pro-monthly"),
      startCheckout(user, "max-monthly"),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    const rows = await rowsOf(user.id);
    expect(rows.filter((row) => row.status === "checkout")).toHaveLength(1);
  });

  // ---- Stripe failing at one step ----

  it("held: Stripe failing at each call of subscribing answers 502, leaves no row that blocks, and the next try works", async () => {
    for (const failing of ["/v1/customers", "/v1/checkout/sessions"]) {
      const user = await newUser();
      fault = ({ method, path }) => (method === "POST" && path === failing ? stripeDown() : undefined);
      const failed = await startCheckout(user, "max-monthly");
      expect(failed, failing).toMatchObject({
        status: 502,
        body: { error: { code: "payment_provider_unavailable" } },
      });
      expect(
        (await rowsOf(user.id)).filter((row) => row.status === "checkout"),
        failing,
      ).toHaveLength(0);
      fault = undefined;
      const again = await startCheckout(user, "max-monthly");
      expect(again.status, failing).toBe(201);
    }
  });

  it("held: Stripe down during a purchase answers 502 (the customer is best effort) and the next purchase works with one customer", async () => {
    const user = await newUser();
    fake.setMode("error");
    const failed = await readJson(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
      ),
    );
    expect(failed.status).toBe(502);
    fake.setMode("ok");
    const bought = await readJson(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
      ),
    );
    expect(bought.status).toBe(201);
    const [stored] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    expect(stored?.customerId).toMatch(/^cus_/);
  });

  it("a stored Stripe customer that Stripe no longer has (deleted in the Dashboard, or test-mode ids after switching to live keys) does not block the user's purchases and subscriptions for good", async () => {
    const user = await newUser();
    await database.db
      .insert(paymentCustomer)
      .values({ userId: user.id, provider: "stripe", customerId: "cus_deleted_in_dashboard" });
    // Stripe answers any request naming a customer it does not have with 400 resource_missing.
    fault = ({ method, form }) => {
      const customer = form.get("customer");
      if (method === "POST" && customer && !fake.billing.customers.has(customer))
        return {
          status: 400,
          body: {
            error: {
              type: "invalid_request_error",
              code: "resource_missing",
              param: "customer",
              message: `No such customer: '${customer}'`,
            },
          },
        };
      return undefined;
    };
    const bought = await readJson(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
      ),
    );
    expect(bought.status).toBe(201);
    const started = await startCheckout(user, "pro-monthly");
    expect(started.status).toBe(201);
  });

  it("one Stripe 500 while making the user's customer does not lock the user out of subscribing for the 24 hours Stripe replays that answer to the same idempotency key", async () => {
    stripeReplaysErrors = true;
    const user = await newUser();
    let failures = 1;
    fault = ({ method, path }) =>
      method === "POST" && path === "/v1/customers" && failures-- > 0 ? stripeDown() : undefined;
    expect((await startCheckout(user, "pro-monthly")).status).toBe(502);
    // Stripe is fine again and replays the saved 500 to the same key; the app's key changes every ten
    // seconds (a double click stays one customer), so the user who tries again a little later subscribes.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 10_000);
      const again = await startCheckout(user, "pro-monthly");
      expect(again.status).toBe(201);
    } finally {
      vi.useRealTimers();
    }
  });

  // ---- Prices ----

  it("a price with our lookup key that bills every two years is refused, as one of another amount is, not used to sell the yearly plan", async () => {
    const user = await newUser();
    const started = await startCheckout(user, "pro-yearly");
    expect(started.status).toBe(502);
    expect(
      [...fake.billing.sessions.values()].filter((s) => s.line_items_price === ROGUE_YEARLY_PRICE),
    ).toHaveLength(0);
  });

  it("held: a price with our lookup key but another amount is refused (the catalog wins)", async () => {
    const base = findPlan("pro-monthly");
    if (!base) throw new Error("no pro-monthly plan");
    const plan = { ...base, id: `break-amount-${kind}` };
    fake.billing.prices.set(`price_wrong_amount_${kind}`, {
      id: `price_wrong_amount_${kind}`,
      object: "price",
      active: true,
      currency: "usd",
      unit_amount: 999,
      lookup_key: `creditkit:${plan.id}:1900:usd`,
      recurring: { interval: "month", interval_count: 1, usage_type: "licensed" },
      product: "prod_rogue",
      metadata: {},
      type: "recurring",
    });
    const stripe = createStripeClient("sk_test_break_stripe_subscriptions", proxy.url);
    await expect(ensureStripePrice(database.db, stripe, plan)).rejects.toThrow(/not the plan's price/);
  });

  it("one Stripe 500 while making a plan's price does not make the plan unsellable for 24 hours (the price's idempotency key replays it)", async () => {
    stripeReplaysErrors = true;
    const base = findPlan("max-monthly");
    if (!base) throw new Error("no max-monthly plan");
    const plan = { ...base, id: `break-sticky-${kind}` };
    const stripe = createStripeClient("sk_test_break_stripe_subscriptions", proxy.url);
    let failures = 1;
    fault = ({ method, path }) =>
      method === "POST" && path === "/v1/prices" && failures-- > 0 ? stripeDown() : undefined;
    await expect(ensureStripePrice(database.db, stripe, plan)).rejects.toThrow();
    await expect(ensureStripePrice(database.db, stripe, plan)).resolves.toMatch(/^price_/);
  });

  // ---- Events duplicated, reordered, forged ----

  it("held: invoice.paid before customer.subscription.created and checkout.session.completed last, each delivered twice, grant once and end active", async () => {
    const user = await newUser();
    const started = await startCheckout(user, "pro-monthly");
    const step = fake.billing.completeCheckout(sessionIdOf(started.body.checkoutUrl));
    const paidId = testId("evt");
    expect((await deliver("invoice.paid", step.invoice, paidId)).outcome).toBe("granted");
    await deliver("invoice.paid", step.invoice, paidId);
    await deliver("invoice.paid", step.invoice);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("checkout.session.completed", step.session)).outcome).toBe("linked");
    await deliver("checkout.session.completed", step.session);
    expect(await balanceOf(user.id)).toBe(1000);
    expect(await rowOf(user.id)).toMatchObject({
      status: "active",
      providerSubscriptionId: step.subscription.id,
    });
  });

  it("checkout.session.expired arriving after checkout.session.completed (before customer.subscription.created) does not abandon the subscription the customer paid for", async () => {
    const user = await newUser();
    const started = await startCheckout(user, "pro-monthly");
    const step = fake.billing.completeCheckout(sessionIdOf(started.body.checkoutUrl));
    expect((await deliver("checkout.session.completed", step.session)).outcome).toBe("linked");
    // A late or replayed expiry of the same session (its object as the earlier snapshot said: open → expired).
    await deliver("checkout.session.expired", { ...step.session, status: "expired", subscription: null });
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    // Stripe bills this subscription every month: our row must say so, and a second subscribe must be refused.
    expect((await rowOf(user.id))?.status).toBe("active");
    expect((await startCheckout(user, "max-monthly")).status).toBe(409);
  });

  it("held: a checkout.session.completed naming another user's waiting subscription for another customer is flagged, not linked; the victim's own checkout still works", async () => {
    const victim = await newUser();
    const victimStart = await startCheckout(victim, "pro-monthly");
    const attacker = await subscribed("pro-monthly");
    const forged = {
      ...attacker.step.session,
      client_reference_id: victimStart.body.subscriptionId,
      metadata: { subscriptionId: victimStart.body.subscriptionId },
      subscription: testId("sub"),
    };
    expect((await deliver("checkout.session.completed", forged)).outcome).toBe("unknown_subscription");
    const forgedInvoice = {
      ...attacker.step.invoice,
      id: testId("in"),
      parent: {
        type: "subscription_details",
        subscription_details: {
          subscription: forged.subscription,
          metadata: { subscriptionId: victimStart.body.subscriptionId },
        },
      },
    };
    expect((await deliver("invoice.paid", forgedInvoice)).outcome).toBe("unknown_subscription");
    expect(await balanceOf(victim.id)).toBe(0);
    expect((await rowOf(victim.id))?.providerSubscriptionId).toBeNull();

    const step = fake.billing.completeCheckout(sessionIdOf(victimStart.body.checkoutUrl));
    expect((await deliver("checkout.session.completed", step.session)).outcome).toBe("linked");
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    expect(await balanceOf(victim.id)).toBe(1000);
    expect(await balanceOf(attacker.user.id)).toBe(1000);
  });

  it("held: invoice.paid while Stripe's invoice_payments fails is refused (5xx, nothing granted or recorded) and its redelivery grants once", async () => {
    const user = await newUser();
    const started = await startCheckout(user, "pro-monthly");
    const step = fake.billing.completeCheckout(sessionIdOf(started.body.checkoutUrl));
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    const eventId = testId("evt");
    fault = ({ path }) => (path === "/v1/invoice_payments" ? stripeDown() : undefined);
    const failed = await deliver("invoice.paid", step.invoice, eventId);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await database.db.select().from(webhookEvent).where(eq(webhookEvent.id, eventId))).toHaveLength(0);
    fault = undefined;
    expect((await deliver("invoice.paid", step.invoice, eventId)).outcome).toBe("granted");
    await deliver("invoice.paid", step.invoice, eventId);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(1000);
  });

  // ---- Plan changes ----

  it("held: three concurrent upgrades of one subscription invoice one upgrade; the others are refused", async () => {
    const { user, providerId } = await subscribed();
    const updatesBefore = fake.requests.filter(
      (r) =>
        r.method === "POST" && r.path === `/v1/subscriptions/${providerId}` && r.form.has("items[0][price]"),
    ).length;
    const answers = await Promise.all([1, 2, 3].map(() => patchPlan(user, "max-monthly")));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(2);
    const updates = fake.requests.filter(
      (r) =>
        r.method === "POST" && r.path === `/v1/subscriptions/${providerId}` && r.form.has("items[0][price]"),
    ).length;
    expect(updates - updatesBefore).toBe(1);
    const invoice =
      fake.billing.invoices.get(fake.subscriptions.get(providerId)?.latest_invoice as string) ?? {};
    await deliver("customer.subscription.updated", fake.subscriptions.get(providerId) ?? {});
    expect((await deliver("invoice.paid", invoice)).outcome).toBe("proration_granted");
    expect(await periodCredits(user.id)).toBeLessThanOrEqual(5000);
  });

  it("held: downgrade → take back → downgrade → cancel → period end: Stripe ends the subscription, nothing more is granted or taken", async () => {
    const { user, providerId } = await subscribed("max-monthly");
    expect((await patchPlan(user, "pro-monthly")).body.change?.kind).toBe("scheduled");
    expect((await patchPlan(user, "max-monthly")).body.change?.kind).toBe("unscheduled");
    expect((await patchPlan(user, "pro-monthly")).body.change?.kind).toBe("scheduled");
    const cancelled = await cancel(user);
    expect(cancelled).toMatchObject({
      status: 200,
      body: { cancelAtPeriodEnd: true, scheduledPlanId: null },
    });
    const sub = fake.subscriptions.get(providerId) ?? {};
    expect(sub).toMatchObject({ cancel_at_period_end: true, schedule: null });
    await deliver("customer.subscription.updated", sub);
    const ended = fake.billing.renew(providerId);
    expect(ended.invoice).toBeUndefined();
    await deliver("customer.subscription.deleted", ended.subscription);
    expect(await rowOf(user.id)).toMatchObject({ status: "canceled", planId: "max-monthly" });
    expect(await balanceOf(user.id)).toBe(5000);
  });

  it("held: Stripe failing after the downgrade's schedule was released leaves cancel retryable (502, then 200, cancelled at Stripe)", async () => {
    const { user, providerId } = await subscribed("max-monthly");
    await patchPlan(user, "pro-monthly");
    fault = ({ method, path, form }) =>
      method === "POST" && path === `/v1/subscriptions/${providerId}` && form.has("cancel_at_period_end")
        ? stripeDown()
        : undefined;
    expect((await cancel(user)).status).toBe(502);
    fault = undefined;
    expect(await cancel(user)).toMatchObject({ status: 200, body: { cancelAtPeriodEnd: true } });
    expect(fake.subscriptions.get(providerId)).toMatchObject({ cancel_at_period_end: true, schedule: null });
  });

  it("a downgrade the customer makes in the portal, followed by an upgrade back here, does not grant the period's credits again (Max once: at most 5,000 for one period)", async () => {
    const { user, providerId } = await subscribed("max-monthly");
    const proPrice = priceIdOfKey("creditkit:pro-monthly:1900:usd");
    expect(proPrice).toBeDefined();
    for (let round = 0; round < 3; round++) {
      // The portal switches the plan at once with prorations (the portal's plan switching, as the README
      // tells the operator to allow): the price moves to Pro now, the unused Max time is credited.
      const sub = fake.subscriptions.get(providerId) ?? {};
      const item = (sub.items as { data: Rec[] }).data[0] as Rec;
      const maxPrice = (item.price as Rec).id as string;
      const now = new Date();
      const end = new Date((item.current_period_end as number) * 1000);
      Object.assign(item.price as Rec, { id: proPrice, unit_amount: 1900 });
      const invoiceId = testId("in");
      const portalInvoice = invoiceObject({
        id: invoiceId,
        customer: sub.customer as string,
        subscription: providerId,
        subscriptionMetadata: sub.metadata as Record<string, string>,
        status: "paid",
        amountPaid: 0,
        billingReason: "subscription_update",
        lines: [
          invoiceLineObject({
            invoice: invoiceId,
            subscription: providerId,
            price: maxPrice,
            amount: -4900,
            period: { start: now, end },
            proration: true,
          }),
          invoiceLineObject({
            invoice: invoiceId,
            subscription: providerId,
            price: proPrice,
            amount: 1900,
            period: { start: now, end },
            proration: true,
          }),
        ],
      });
      await deliver("customer.subscription.updated", sub);
      await deliver("invoice.paid", portalInvoice);
      expect((await rowOf(user.id))?.planId).toBe("pro-monthly");
      // Back on the credits page: upgrade to Max.
      const upgraded = await patchPlan(user, "max-monthly");
      expect(upgraded.status).toBe(200);
      await deliver("customer.subscription.updated", fake.subscriptions.get(providerId) ?? {});
      await deliver("invoice.paid", fake.billing.invoices.get(upgraded.body.change?.invoiceId ?? "") ?? {});
    }
    expect(await periodCredits(user.id)).toBeLessThanOrEqual(5000);
  });

  it("opening the customer portal in a loop is rate limited like the other calls that cost a Stripe request", async () => {
    const { user } = await subscribed();
    const before = fake.billing.portalSessions.length;
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++)
      statuses.push(
        (
          await portalPost(
            appRequest("/api/credits/subscription/portal", { method: "POST", cookie: user.cookie }),
          )
        ).status,
      );
    expect(statuses).toContain(429);
    expect(fake.billing.portalSessions.length - before).toBeLessThanOrEqual(10);
  });

  it("held (the control of the portal test): subscribing in a loop is rate limited before it costs more than ten Stripe calls a minute", async () => {
    const user = await newUser();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await startCheckout(user, "max-monthly")).status);
    expect(statuses).toContain(429);
  });

  // ---- Provider switched: sandbox → Stripe ----

  it("a subscription left in the sandbox before the keys were set does not lock the user out of subscribing with Stripe", async () => {
    const user = await newUser();
    await database.db
      .insert(paymentCustomer)
      .values({ userId: user.id, provider: "sandbox", customerId: "cus_sandbox_x" });
    const past = new Date(Date.now() - 40 * 86_400_000);
    await database.db.insert(subscription).values({
      userId: user.id,
      provider: "sandbox",
      providerSubscriptionId: testId("sub_sandbox"),
      customerId: "cus_sandbox_x",
      planId: "pro-monthly",
      status: "active",
      currentPeriodStart: past,
      currentPeriodEnd: new Date(past.getTime() + 30 * 86_400_000),
    });
    // The sandbox's customer is not a Stripe customer: no portal (held).
    const portal = await readJson(
      await portalPost(
        appRequest("/api/credits/subscription/portal", { method: "POST", cookie: user.cookie }),
      ),
    );
    expect(portal.status).toBe(404);
    // Cancel answers 404 (the sandbox subscription is not Stripe's) and subscribe must then not answer 409.
    const started = await startCheckout(user, "pro-monthly");
    expect(started.status).toBe(201);
  });
});

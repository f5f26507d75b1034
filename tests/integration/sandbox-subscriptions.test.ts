import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditLot,
  paymentCustomer,
  sandboxEventOutbox,
  sandboxInvoice,
  sandboxSubscription,
  subscriptionPeriodGrant,
} from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { deliverOutboxEvent } from "../../src/payment/sandbox/deliver-sandbox-events";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  balanceGet,
  confirmPost,
  plansGet,
  subscriptionGet,
  subscriptionsPost,
} from "../support/route-handlers";
import { entriesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// The sandbox (no Stripe keys), and a purchase limit no test here reaches.
const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "100" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";
const CARD_DECLINED = "4000 0000 0000 0002";

type Started = { subscriptionId: string; paymentIntentId: string; clientSecret: string; provider: string };
type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
};

describe.each(databaseKinds())("subscribing in the sandbox (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const newUser = () => signUp(`subscriber-${randomUUID()}@example.test`);

  async function subscribe(user: SignedUpUser | undefined, json: unknown) {
    return readJson<Started & { error?: { code: string } }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user?.cookie, json }),
        routeContext({}),
      ),
    );
  }

  async function pay(user: SignedUpUser, paymentIntentId: string, cardNumber: string) {
    return readJson<{ status: string; error?: { declineCode: string } }>(
      await confirmPost(
        appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
          cookie: user.cookie,
          json: { cardNumber },
        }),
        routeContext({ paymentIntentId }),
      ),
    );
  }

  async function subscriptionOf(user: SignedUpUser) {
    return readJson<Summary | null>(
      await subscriptionGet(
        appRequest("/api/credits/subscription", { cookie: user.cookie }),
        routeContext({}),
      ),
    );
  }

  async function balanceOf(user: SignedUpUser) {
    const { body } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    return body.balance;
  }

  it("GET /api/credits/plans lists the plans for anyone: prices in minor units, credits per monthly grant", async () => {
    const { status, body } = await readJson<{ plans: unknown[] }>(
      await plansGet(appRequest("/api/credits/plans"), routeContext({})),
    );
    expect(status).toBe(200);
    expect(body.plans).toEqual([
      {
        id: "free",
        name: "Free",
        interval: "month",
        price: { amount: 0, currency: "usd" },
        creditsPerPeriod: 50,
        rollover: { policy: "none" },
        trial: null,
      },
      {
        id: "pro-monthly",
        name: "Pro",
        interval: "month",
        price: { amount: 1900, currency: "usd" },
        creditsPerPeriod: 1000,
        rollover: { policy: "capped", cap: 1000 },
        trial: null,
      },
      {
        id: "pro-yearly",
        name: "Pro (yearly)",
        interval: "year",
        price: { amount: 19000, currency: "usd" },
        creditsPerPeriod: 1000,
        rollover: { policy: "capped", cap: 1000 },
        trial: null,
      },
      {
        id: "max-monthly",
        name: "Max",
        interval: "month",
        price: { amount: 4900, currency: "usd" },
        creditsPerPeriod: 5000,
        rollover: { policy: "capped", cap: 5000 },
        trial: { days: 7, credits: 500 },
      },
    ]);
  });

  it("subscribe to Pro, pay the first invoice with 4242: 1,000 credits that expire when the period ends", async () => {
    const user = await newUser();
    expect((await subscriptionOf(user)).body).toBeNull();

    const started = await subscribe(user, { planId: "pro-monthly" });
    expect(started).toEqual({
      status: 201,
      body: {
        subscriptionId: expect.any(String),
        paymentIntentId: expect.stringMatching(/^pi_sbx_/),
        clientSecret: expect.stringContaining("_secret_"),
        provider: "sandbox",
        trial: null,
      },
    });
    // Started, not paid: the subscription waits for its first payment, with no credits.
    expect((await subscriptionOf(user)).body).toMatchObject({ status: "incomplete", planId: "pro-monthly" });
    expect(await balanceOf(user)).toBe(0);

    expect(await pay(user, started.body.paymentIntentId, CARD_OK)).toEqual({
      status: 200,
      body: { status: "succeeded", paymentIntentId: started.body.paymentIntentId },
    });

    // The credits and the state are there when the confirm answers: its events were delivered first.
    expect(await balanceOf(user)).toBe(1000);
    const { body: summary } = await subscriptionOf(user);
    expect(summary).toMatchObject({
      id: started.body.subscriptionId,
      planId: "pro-monthly",
      status: "active",
      cancelAtPeriodEnd: false,
    });
    const start = new Date(summary?.currentPeriodStart ?? "");
    expect(summary?.currentPeriodEnd).toBe(addMonthsClamped(start, 1).toISOString());
    const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id));
    expect(lot).toMatchObject({ credits: 1000, source: "subscription", category: "paid" });
    expect(lot?.expiresAt?.toISOString()).toBe(summary?.currentPeriodEnd);

    // One customer for the user; the card kept for renewals as its behaviour and last four digits only.
    const customers = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    expect(customers).toHaveLength(1);
    const [kept] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.userId, user.id));
    expect(kept).toMatchObject({ status: "active", cardBehavior: "succeeds", cardLast4: "4242" });
    expect(kept?.customerId).toBe(customers[0]?.customerId);
  });

  it("every event of the subscription was delivered once; delivering invoice.paid again changes nothing", async () => {
    const user = await newUser();
    const started = await subscribe(user, { planId: "pro-monthly" });
    await pay(user, started.body.paymentIntentId, CARD_OK);
    const [sub] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.userId, user.id));
    const events = await database.db
      .select()
      .from(sandboxEventOutbox)
      .where(eq(sandboxEventOutbox.subscriptionId, sub?.id ?? ""))
      .orderBy(sandboxEventOutbox.createdAt);
    expect(events.map((event) => [event.type, event.deliveredAt instanceof Date])).toEqual([
      ["customer.subscription.created", true],
      ["payment_intent.succeeded", true],
      ["invoice.paid", true],
      ["customer.subscription.updated", true],
    ]);
    const invoicePaid = events.find((event) => event.type === "invoice.paid");
    if (!invoicePaid) throw new Error("no invoice.paid");
    // Stripe may deliver an event twice; so may the sandbox's worker racing a confirm.
    expect(await deliverOutboxEvent(database.db, webhookSigningSecret(), invoicePaid)).toMatchObject({
      delivered: true,
      outcome: "duplicate",
    });
    expect(await balanceOf(user)).toBe(1000);
  });

  it("rule 3: a first payment that is declined answers 402, stays incomplete and grants nothing; paying later grants", async () => {
    const user = await newUser();
    const started = await subscribe(user, { planId: "max-monthly" });

    const declined = await pay(user, started.body.paymentIntentId, CARD_DECLINED);
    expect(declined).toMatchObject({
      status: 402,
      body: { status: "requires_payment_method", error: { declineCode: "generic_decline" } },
    });
    expect(await balanceOf(user)).toBe(0);
    expect((await subscriptionOf(user)).body).toMatchObject({ status: "incomplete", planId: "max-monthly" });
    expect(await entriesOf(database.db, user.id)).toEqual([]);
    const [invoice] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.paymentIntentId, started.body.paymentIntentId));
    expect(invoice).toMatchObject({ status: "open", attemptCount: 1, amountPaid: 0 });
    expect(
      await database.db
        .select()
        .from(subscriptionPeriodGrant)
        .where(eq(subscriptionPeriodGrant.userId, user.id)),
    ).toEqual([]);

    // Subscribing again while the first invoice is unpaid answers the same subscription, not a second one.
    const again = await subscribe(user, { planId: "max-monthly" });
    expect(again).toEqual({ status: 201, body: started.body });

    // Another card for the same invoice: paid now, and only now granted (Max starts with its trial: the
    // $0 first invoice collected the card and grants the trial's 500).
    expect((await pay(user, started.body.paymentIntentId, CARD_OK)).status).toBe(200);
    expect(await balanceOf(user)).toBe(500);
    expect((await subscriptionOf(user)).body).toMatchObject({ status: "trialing" });
  });

  it("one subscription at a time: a second subscribe answers 409 subscription_exists", async () => {
    const user = await newUser();
    await subscribe(user, { planId: "pro-monthly" });
    // While the first waits for payment, choosing another plan ends the first (incomplete_expired): still
    // one subscription, the one chosen last.
    const started = await subscribe(user, { planId: "max-monthly" });
    expect(started.status).toBe(201);
    await pay(user, started.body.paymentIntentId, CARD_OK);
    for (const planId of ["pro-monthly", "max-monthly"]) {
      expect(await subscribe(user, { planId })).toMatchObject({
        status: 409,
        body: { error: { code: "subscription_exists" } },
      });
    }
    // Max's trial: 500 credits until it ends.
    expect(await balanceOf(user)).toBe(500);
  });

  it.runIf(kind === "postgres")("two subscribes at once start one subscription (PostgreSQL)", async () => {
    const user = await newUser();
    const [first, second] = await Promise.all([
      subscribe(user, { planId: "pro-monthly" }),
      subscribe(user, { planId: "pro-monthly" }),
    ]);
    expect([first?.status, second?.status]).toEqual([201, 201]);
    expect(second?.body).toEqual(first?.body);
    const rows = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.userId, user.id));
    expect(rows).toHaveLength(1);
  });

  it("refuses the free plan, unknown plans, extra fields and strangers", async () => {
    const user = await newUser();
    for (const planId of ["free", "platinum"]) {
      expect(await subscribe(user, { planId })).toMatchObject({
        status: 400,
        body: { error: { code: "plan_unavailable" } },
      });
    }
    expect(await subscribe(user, { planId: "pro-monthly", price: 1 })).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_input" } },
    });
    expect((await subscribe(undefined, { planId: "pro-monthly" })).status).toBe(401);
    expect((await subscriptionGet(appRequest("/api/credits/subscription"), routeContext({}))).status).toBe(
      401,
    );
    expect((await subscriptionOf(user)).body).toBeNull();
  });

  it("only the subscriber can pay the first invoice", async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const started = await subscribe(owner, { planId: "pro-monthly" });
    expect((await pay(stranger, started.body.paymentIntentId, CARD_OK)).status).toBe(404);
    expect(await balanceOf(owner)).toBe(0);
    expect(await balanceOf(stranger)).toBe(0);
  });
});

import { randomUUID } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { verifySubscriptions } from "../../src/credits/verify-subscriptions";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditLot,
  sandboxEventOutbox,
  sandboxInvoice,
  sandboxSubscription,
  subscription,
  subscriptionPeriodGrant,
  webhookFailure,
} from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { deliverOutboxEvent } from "../../src/payment/sandbox/deliver-sandbox-events";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  balanceGet,
  cardPut,
  confirmPost,
  handlerOf,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
} from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";
const CARD_CHARGE_FAILS = "4000 0000 0000 0341";
const CARD_NEEDS_AUTH = "4000 0025 0000 3155";
const DAY_MS = 24 * 60 * 60 * 1000;

const subscriptionPatch = handlerOf(changeSubscription);

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  scheduledPlanId: string | null;
  period?: { granted: number; left: number } | null;
};
type Changed = {
  subscription: Summary;
  change: { kind: string; invoiceId?: string; at?: string };
  error?: { code: string };
};

/** The sandbox flows a subscriber goes through, against one database. */
function subscriberSteps(database: () => TestDatabase) {
  async function subscribed(planId = "pro-monthly") {
    const user = await signUp(`plans-${randomUUID()}@example.test`);
    const { body: started } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${started.paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ paymentIntentId: started.paymentIntentId }),
    );
    expect(paid.status).toBe(200);
    // Max starts with its 7-day trial: these tests change an active plan, so the trial ends first (its
    // first full-price invoice paid), as it would a week later.
    if (planId === "max-monthly") await endTrial(user, started.subscriptionId);
    return { user, subscriptionId: started.subscriptionId };
  }

  async function endTrial(user: SignedUpUser, subscriptionId: string) {
    const ended = await advancePost(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
      routeContext({ subscriptionId }),
    );
    expect(ended.status).toBe(200);
  }

  const changePlan = async (user: SignedUpUser | undefined, json: unknown) =>
    readJson<Changed>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", { cookie: user?.cookie, method: "PATCH", json }),
        routeContext({}),
      ),
    );

  const advance = async (user: SignedUpUser, subscriptionId: string) =>
    readJson<{ invoice: { id: string; status: string } | null; subscription: Summary }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );

  const summaryOf = async (user: SignedUpUser) =>
    (
      await readJson<Summary>(
        await subscriptionGet(
          appRequest("/api/credits/subscription", { cookie: user.cookie }),
          routeContext({}),
        ),
      )
    ).body;

  const balanceOf = async (user: SignedUpUser) =>
    (
      await readJson<{ balance: number }>(
        await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
      )
    ).body.balance;

  const sandboxOf = async (subscriptionId: string) => {
    const [row] = await database()
      .db.select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.subscriptionRowId, subscriptionId));
    if (!row) throw new Error("no sandbox subscription");
    return row;
  };

  const invoicesOf = async (subscriptionId: string) => {
    const sandbox = await sandboxOf(subscriptionId);
    return database()
      .db.select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.subscriptionId, sandbox.id))
      .orderBy(asc(sandboxInvoice.created), asc(sandboxInvoice.finalizedAt));
  };

  const subscriptionLots = async (userId: string) =>
    (
      await database()
        .db.select()
        .from(creditLot)
        .where(eq(creditLot.userId, userId))
        .orderBy(asc(creditLot.createdAt))
    ).filter((lot) => lot.source === "subscription");

  /** Moves the subscription's test clock `days` into its period, as advancing a Stripe test clock would. */
  async function clockInto(subscriptionId: string, days: number) {
    const sandbox = await sandboxOf(subscriptionId);
    const clock = new Date(sandbox.currentPeriodStart.getTime() + days * DAY_MS);
    await database()
      .db.update(sandboxSubscription)
      .set({ clock })
      .where(eq(sandboxSubscription.id, sandbox.id));
    return { sandbox, clock };
  }

  return {
    subscribed,
    changePlan,
    advance,
    summaryOf,
    balanceOf,
    sandboxOf,
    invoicesOf,
    subscriptionLots,
    clockInto,
  };
}

describe.each(databaseKinds())("changing plan in the sandbox (%s)", (kind) => {
  let database: TestDatabase;
  const steps = subscriberSteps(() => database);
  const { subscribed, changePlan, advance, summaryOf, balanceOf, sandboxOf, invoicesOf, subscriptionLots } =
    steps;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  afterEach(async () => {
    // `npm run credits -- verify` after every test: the ledger and the subscription invariants hold.
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("Pro → Max mid-period charges the prorated difference now and grants floor(4000 × remaining / period) once, however often invoice.paid arrives", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly");
    const { sandbox, clock } = await steps.clockInto(subscriptionId, 10);
    const start = sandbox.currentPeriodStart;
    const end = sandbox.currentPeriodEnd;

    const { status, body } = await changePlan(user, { planId: "max-monthly" });

    expect(status).toBe(200);
    expect(body.change).toEqual({ kind: "changed_now", invoiceId: expect.stringMatching(/^in_sbx_/) });
    expect(body.subscription).toMatchObject({
      planId: "max-monthly",
      status: "active",
      scheduledPlanId: null,
      currentPeriodStart: start.toISOString(),
      currentPeriodEnd: end.toISOString(),
    });
    // Prorated by seconds, each line rounded to whole cents, as Stripe does.
    const remaining = (end.getTime() - clock.getTime()) / 1000;
    const whole = (end.getTime() - start.getTime()) / 1000;
    const credit = Math.round((1900 * remaining) / whole);
    const charge = Math.round((4900 * remaining) / whole);
    const [, upgrade] = await invoicesOf(subscriptionId);
    expect(upgrade).toMatchObject({
      id: body.change.invoiceId,
      billingReason: "subscription_update",
      status: "paid",
      amountDue: charge - credit,
      amountPaid: charge - credit,
    });
    const period = { start: clock.getTime() / 1000, end: end.getTime() / 1000 };
    expect(upgrade?.lines.map((line) => [line.planId, line.amount, line.proration, line.period])).toEqual([
      ["pro-monthly", -credit, true, period],
      ["max-monthly", charge, true, period],
    ]);

    const extra = Math.floor((4000 * remaining) / whole);
    expect(extra).toBeLessThan(4000);
    expect(await balanceOf(user)).toBe(1000 + extra);
    // The answer's period figures count the extra credits as this period's.
    expect(body.subscription.period).toMatchObject({ granted: 1000 + extra, left: 1000 + extra });
    const lots = await subscriptionLots(user.id);
    expect(lots.map((lot) => [lot.credits, lot.expiresAt?.toISOString()])).toEqual([
      [1000, end.toISOString()],
      [extra, end.toISOString()],
    ]);
    const grants = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, user.id), eq(subscriptionPeriodGrant.kind, "proration")));
    expect(grants).toEqual([
      expect.objectContaining({
        invoiceId: upgrade?.id,
        planId: "max-monthly",
        status: "granted",
        credits: extra,
      }),
    ]);

    // The same invoice.paid again (Stripe retries), then three times at once under new event ids.
    const [invoicePaid] = await database.db
      .select()
      .from(sandboxEventOutbox)
      .where(
        and(eq(sandboxEventOutbox.subscriptionId, sandbox.id), eq(sandboxEventOutbox.type, "invoice.paid")),
      )
      .orderBy(asc(sandboxEventOutbox.createdAt))
      .offset(1);
    if (!invoicePaid) throw new Error("no invoice.paid of the upgrade");
    expect(await deliverOutboxEvent(database.db, webhookSigningSecret(), invoicePaid)).toMatchObject({
      delivered: true,
      outcome: "duplicate",
    });
    const redeliveries = await Promise.all(
      Array.from({ length: 3 }, () => {
        const id = `evt_sbx_${randomUUID().replaceAll("-", "")}`;
        const payload = JSON.stringify({ ...JSON.parse(invoicePaid.payload), id });
        return deliverOutboxEvent(database.db, webhookSigningSecret(), { ...invoicePaid, id, payload });
      }),
    );
    expect(redeliveries.map((delivery) => delivery.outcome)).toEqual(
      Array.from({ length: 3 }, () => "proration_already_granted"),
    );
    expect(await balanceOf(user)).toBe(1000 + extra);
    expect(await verifySubscriptions(database.db)).toEqual([]);

    // Max is in force now: asking for it again changes nothing.
    expect(await changePlan(user, { planId: "max-monthly" })).toMatchObject({
      status: 409,
      body: { error: { code: "plan_unchanged" } },
    });
  });

  it("an upgrade whose card on file is declined (card_declined) or needs authentication (authentication_required) answers 402 and changes nothing", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly");
    for (const [cardNumber, code] of [
      [CARD_CHARGE_FAILS, "card_declined"],
      [CARD_NEEDS_AUTH, "authentication_required"],
    ] as const) {
      const card = await cardPut(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
          cookie: user.cookie,
          method: "PUT",
          json: { cardNumber },
        }),
        routeContext({ subscriptionId }),
      );
      expect(card.status).toBe(200);

      expect(await changePlan(user, { planId: "max-monthly" })).toMatchObject({
        status: 402,
        body: { error: { code } },
      });
      expect(await summaryOf(user)).toMatchObject({ planId: "pro-monthly", status: "active" });
      expect(await sandboxOf(subscriptionId)).toMatchObject({ planId: "pro-monthly", status: "active" });
      expect(await balanceOf(user)).toBe(1000);
      expect(await invoicesOf(subscriptionId)).toHaveLength(1);
    }
    expect(
      await database.db
        .select()
        .from(subscriptionPeriodGrant)
        .where(eq(subscriptionPeriodGrant.userId, user.id)),
    ).toHaveLength(1);
  });

  it("after Pro → Max mid-period, the renewal carries what is left up to Max's cap, not Pro's", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly");
    await steps.clockInto(subscriptionId, 10);
    expect((await changePlan(user, { planId: "max-monthly" })).status).toBe(200);
    const upgraded = await balanceOf(user);
    // Nothing spent: all of it (1,000 of Pro and the upgrade's extra, more than 1,000 in all) expires at the
    // period's end, and the carry is capped by the plan the period ended on.
    expect(upgraded).toBeGreaterThan(2000);

    const renewed = await advance(user, subscriptionId);
    expect(renewed.status).toBe(200);
    expect(await balanceOf(user)).toBe(5000 + Math.min(upgraded, 5000));
  });

  it("four advances at once, or an upgrade racing an advance, end as the same steps one after another do", async () => {
    const a = await subscribed("pro-monthly");
    await Promise.all([1, 2, 3, 4].map(() => advance(a.user, a.subscriptionId)));
    // Four renewals in a row: the last period's 1,000 and the 1,000 carried into it, nothing older.
    expect(await balanceOf(a.user)).toBe(2000);

    const b = await subscribed("pro-monthly");
    await Promise.all([changePlan(b.user, { planId: "max-monthly" }), advance(b.user, b.subscriptionId)]);
    // As one order or the other: upgrade then renew (Max's 5,000 and what was left carried, up to Max's
    // cap), or renew then upgrade at the new period's start (1,000, the 1,000 carried, and the difference).
    // Interleaved, the first period's credits outlived it (8,999 and more were seen).
    const [proration] = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(
        and(eq(subscriptionPeriodGrant.userId, b.user.id), eq(subscriptionPeriodGrant.kind, "proration")),
      );
    const extra = proration?.credits ?? 0;
    expect(extra).toBeGreaterThan(0);
    expect([5000 + Math.min(5000, 1000 + extra), 1000 + 1000 + extra]).toContain(await balanceOf(b.user));
  });

  it("a first payment that was declined does not hold the user to that plan: choosing another ends it", async () => {
    const user = await signUp(`plans-${randomUUID()}@example.test`);
    const start = async (planId: string) =>
      readJson<{ subscriptionId: string; paymentIntentId: string }>(
        await subscriptionsPost(
          appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
          routeContext({}),
        ),
      );
    const pay = (paymentIntentId: string, cardNumber: string) =>
      confirmPost(
        appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
          cookie: user.cookie,
          json: { cardNumber },
        }),
        routeContext({ paymentIntentId }),
      );
    const first = await start("pro-monthly");
    expect((await pay(first.body.paymentIntentId, "4000 0000 0000 0002")).status).toBe(402);

    const second = await start("max-monthly");
    expect(second.status).toBe(201);
    expect(second.body.subscriptionId).not.toBe(first.body.subscriptionId);
    // The first one's dialog can no longer take money; the new one's can.
    expect((await pay(first.body.paymentIntentId, CARD_OK)).status).not.toBe(200);
    expect((await pay(second.body.paymentIntentId, CARD_OK)).status).toBe(200);
    // Max's trial: its 500 credits now, the plan's price when the trial ends.
    expect(await balanceOf(user)).toBe(500);
    const [old] = await database.db
      .select()
      .from(subscription)
      .where(eq(subscription.id, first.body.subscriptionId));
    expect(old?.status).toBe("incomplete_expired");
    expect(await summaryOf(user)).toMatchObject({ planId: "max-monthly", status: "trialing" });
  });

  it("cancelling drops a scheduled downgrade: nothing is left to change at a period that will not come", async () => {
    const { user } = await subscribed("max-monthly");
    expect((await changePlan(user, { planId: "pro-monthly" })).body.subscription).toMatchObject({
      scheduledPlanId: "pro-monthly",
    });
    await subscriptionDelete(
      appRequest("/api/credits/subscription", { cookie: user.cookie, method: "DELETE" }),
      routeContext({}),
    );
    expect(await summaryOf(user)).toMatchObject({ cancelAtPeriodEnd: true, scheduledPlanId: null });
  });

  it("Max → Pro waits for the period's end: this period keeps its 5,000; the renewal bills $19 and grants 1,000", async () => {
    const { user, subscriptionId } = await subscribed("max-monthly");
    const before = await summaryOf(user);

    const { status, body } = await changePlan(user, { planId: "pro-monthly" });

    expect(status).toBe(200);
    expect(body.change).toEqual({ kind: "scheduled", at: before.currentPeriodEnd });
    expect(body.subscription).toMatchObject({ planId: "max-monthly", scheduledPlanId: "pro-monthly" });
    expect(await balanceOf(user)).toBe(5000);
    // The trial's $0 invoice and the first full-price one (subscribed() ended the trial).
    expect(await invoicesOf(subscriptionId)).toHaveLength(2);

    const renewed = await advance(user, subscriptionId);
    expect(renewed.body.invoice?.status).toBe("paid");
    expect(renewed.body.subscription).toMatchObject({
      planId: "pro-monthly",
      scheduledPlanId: null,
      currentPeriodStart: before.currentPeriodEnd,
    });
    const invoices = await invoicesOf(subscriptionId);
    expect(invoices.at(-1)).toMatchObject({ billingReason: "subscription_cycle", amountPaid: 1900 });
    expect(invoices.at(-1)?.lines.map((line) => line.planId)).toEqual(["pro-monthly"]);
    const lots = await subscriptionLots(user.id);
    // The trial's 500 (expired at its end), Max's first period, then Pro's.
    expect(lots.map((lot) => lot.credits)).toEqual([500, 5000, 1000]);
    // The new period's 1,000, plus what Max's period left unspent carried over (Max's cap is 5,000).
    expect(await balanceOf(user)).toBe(1000 + 5000);
  });

  it("a downgrade taken back by choosing the current plan again: the renewal stays on Max", async () => {
    const { user, subscriptionId } = await subscribed("max-monthly");
    expect((await changePlan(user, { planId: "pro-monthly" })).body.subscription.scheduledPlanId).toBe(
      "pro-monthly",
    );

    const back = await changePlan(user, { planId: "max-monthly" });
    expect(back).toMatchObject({
      status: 200,
      body: {
        change: { kind: "unscheduled" },
        subscription: { planId: "max-monthly", scheduledPlanId: null },
      },
    });
    expect(await sandboxOf(subscriptionId)).toMatchObject({ planId: "max-monthly", pendingPlanId: null });

    await advance(user, subscriptionId);
    const invoices = await invoicesOf(subscriptionId);
    expect(invoices.at(-1)).toMatchObject({ billingReason: "subscription_cycle", amountPaid: 4900 });
    expect(await summaryOf(user)).toMatchObject({ planId: "max-monthly", scheduledPlanId: null });
    expect((await subscriptionLots(user.id)).map((lot) => lot.credits)).toEqual([500, 5000, 5000]);
  });

  it("refuses what cannot change: no subscription 404, unknown or free plan 400, the plan in force 409, strangers 401", async () => {
    const newcomer = await signUp(`plans-${randomUUID()}@example.test`);
    expect(await changePlan(newcomer, { planId: "max-monthly" })).toMatchObject({
      status: 404,
      body: { error: { code: "not_found" } },
    });
    const { user } = await subscribed("pro-monthly");
    for (const planId of ["free", "platinum"])
      expect(await changePlan(user, { planId })).toMatchObject({
        status: 400,
        body: { error: { code: "plan_unavailable" } },
      });
    expect(await changePlan(user, { planId: "max-monthly", price: 1 })).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_input" } },
    });
    expect(await changePlan(user, { planId: "pro-monthly" })).toMatchObject({
      status: 409,
      body: { error: { code: "plan_unchanged" } },
    });
    expect((await changePlan(undefined, { planId: "max-monthly" })).status).toBe(401);
    expect(await balanceOf(user)).toBe(1000);
  });

  it("a past-due subscription cannot change plan until its renewal is paid (409 subscription_not_changeable)", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly");
    await cardPut(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
        cookie: user.cookie,
        method: "PUT",
        json: { cardNumber: CARD_CHARGE_FAILS },
      }),
      routeContext({ subscriptionId }),
    );
    expect((await advance(user, subscriptionId)).body.subscription.status).toBe("past_due");
    expect(await changePlan(user, { planId: "max-monthly" })).toMatchObject({
      status: 409,
      body: { error: { code: "subscription_not_changeable" } },
    });
    expect(await summaryOf(user)).toMatchObject({ planId: "pro-monthly", status: "past_due" });
  });

  it.runIf(kind === "postgres")("two upgrades at once charge and grant once (PostgreSQL)", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly");
    const answers = await Promise.all([
      changePlan(user, { planId: "max-monthly" }),
      changePlan(user, { planId: "max-monthly" }),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    expect(await invoicesOf(subscriptionId)).toHaveLength(2);
    const grants = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, user.id), eq(subscriptionPeriodGrant.kind, "proration")));
    expect(grants).toHaveLength(1);
    expect(await balanceOf(user)).toBe(1000 + (grants[0]?.credits ?? 0));
  });
});

describe.each(databaseKinds())("switching monthly → yearly in the sandbox (%s)", (kind) => {
  let database: TestDatabase;
  const steps = subscriberSteps(() => database);

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  afterAll(async () => {
    await database?.close();
  });

  it("yearly → monthly waits for the year's end, then renews for one month at $19", async () => {
    const { user, subscriptionId } = await steps.subscribed("pro-yearly");
    const before = await steps.summaryOf(user);
    const { body } = await steps.changePlan(user, { planId: "pro-monthly" });
    expect(body.change).toEqual({ kind: "scheduled", at: before.currentPeriodEnd });
    // Eleven more monthly slots, then the renewal.
    for (let month = 1; month < 12; month++)
      expect((await steps.advance(user, subscriptionId)).status).toBe(200);
    const renewed = await steps.advance(user, subscriptionId);
    expect(renewed.body.subscription).toMatchObject({
      planId: "pro-monthly",
      currentPeriodStart: before.currentPeriodEnd,
    });
    const start = new Date(before.currentPeriodEnd ?? "");
    const end = new Date(renewed.body.subscription?.currentPeriodEnd ?? "");
    const days = (end.getTime() - start.getTime()) / 86_400_000;
    expect(days).toBeGreaterThanOrEqual(28);
    expect(days).toBeLessThanOrEqual(31);
    const invoices = await steps.invoicesOf(subscriptionId);
    expect(invoices.at(-1)).toMatchObject({ billingReason: "subscription_cycle", amountPaid: 1900 });
  });

  it("resets the cycle now with a credit for the unused month and the full year; the month's credits stay", async () => {
    const { user, subscriptionId } = await steps.subscribed("pro-monthly");
    const { sandbox, clock } = await steps.clockInto(subscriptionId, 12);
    const [monthLot] = await steps.subscriptionLots(user.id);

    const { status, body } = await steps.changePlan(user, { planId: "pro-yearly" });

    expect(status).toBe(200);
    expect(body.change.kind).toBe("changed_now");
    const year = { start: clock.toISOString(), end: new Date(clock) };
    year.end.setUTCFullYear(year.end.getUTCFullYear() + 1);
    expect(body.subscription).toMatchObject({
      planId: "pro-yearly",
      currentPeriodStart: year.start,
      currentPeriodEnd: year.end.toISOString(),
    });
    const remaining = (sandbox.currentPeriodEnd.getTime() - clock.getTime()) / 1000;
    const whole = (sandbox.currentPeriodEnd.getTime() - sandbox.currentPeriodStart.getTime()) / 1000;
    const credit = Math.round((1900 * remaining) / whole);
    const [, switched] = await steps.invoicesOf(subscriptionId);
    expect(switched).toMatchObject({
      billingReason: "subscription_update",
      status: "paid",
      amountPaid: 19000 - credit,
    });
    expect(switched?.lines.map((line) => [line.planId, line.amount, line.proration])).toEqual([
      ["pro-monthly", -credit, true],
      ["pro-yearly", 19000, false],
    ]);

    // The month already granted is kept as it was: same credits, same expiry. The credit line grants and
    // takes nothing (no proration grant row); the yearly line is the yearly slots' to grant.
    const [kept] = await steps.subscriptionLots(user.id);
    expect(kept).toMatchObject({
      id: monthLot?.id,
      credits: 1000,
      remaining: 1000,
      expiresAt: monthLot?.expiresAt,
    });
    expect(await steps.balanceOf(user)).toBeGreaterThanOrEqual(1000);
    expect(
      await database.db
        .select()
        .from(subscriptionPeriodGrant)
        .where(
          and(eq(subscriptionPeriodGrant.userId, user.id), eq(subscriptionPeriodGrant.kind, "proration")),
        ),
    ).toEqual([]);

    // verify passes; while yearly slots are not granted yet, the one failure allowed is that invoice's
    // yearly line (refused and kept for retry, never granted wrongly).
    const failures = await database.db.select().from(webhookFailure);
    for (const failure of failures) {
      expect(failure).toMatchObject({ eventType: "invoice.paid", errorCode: "unknown_event_value" });
      expect(failure.reason).toMatch(/yearly/);
    }
    const { violations } = await verifyLedger(database.db);
    expect(violations.filter((violation) => violation.check !== "webhook_failures_unresolved")).toEqual([]);
  });
});

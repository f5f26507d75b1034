import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, creditPurchase, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import changeSubscriptionRoute from "../../src/routes/credits/change-subscription";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  cardPut,
  confirmPost,
  handlerOf,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
} from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { CARD_OK } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const subscriptionPatch = handlerOf(changeSubscriptionRoute);
const CARD_FAILS_LATER = "4000 0000 0000 0341";

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  scheduledPlanId?: string | null;
};
type Started = { subscriptionId: string; paymentIntentId: string };

describe.each(databaseKinds())("breaking sandbox subscriptions (%s)", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;
  let apiKey: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
    apiKey = (await createApiKey(database.db, "break-subs", { userId: null, label: "break" })).key;
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const newUser = () => signUp(`break-sub-${randomUUID()}@example.test`);
  const subscribe = async (user: SignedUpUser, planId: unknown = "pro-monthly") =>
    readJson<Started & { error?: { code: string } }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
  const pay = (user: SignedUpUser, paymentIntentId: string, cardNumber = CARD_OK) =>
    confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId }),
    );
  const advance = async (user: SignedUpUser, subscriptionId: string) =>
    readJson<{ subscription: Summary | null; invoice: { id: string; status: string } | null }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  const setCard = (user: SignedUpUser, subscriptionId: string, cardNumber: string) =>
    cardPut(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
        method: "PUT",
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ subscriptionId }),
    );
  const summaryOf = async (user: SignedUpUser) =>
    (
      await readJson<Summary | null>(
        await subscriptionGet(
          appRequest("/api/credits/subscription", { cookie: user.cookie }),
          routeContext({}),
        ),
      )
    ).body;
  const cancel = (user: SignedUpUser) =>
    subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      routeContext({}),
    );
  const changePlan = (user: SignedUpUser, planId: unknown) =>
    subscriptionPatch(
      appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
      routeContext({}),
    );
  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const grantsOf = (userId: string) =>
    database.db.select().from(subscriptionPeriodGrant).where(eq(subscriptionPeriodGrant.userId, userId));
  const purchasesOf = (userId: string) =>
    database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, userId), eq(creditPurchase.kind, "subscription_invoice")));

  /** Subscribed and paid with 4242; `card` is then put on file for the renewals. */
  async function subscribed(planId = "pro-monthly", card = CARD_OK) {
    const user = await newUser();
    const started = await subscribe(user, planId);
    expect(started.status).toBe(201);
    expect((await pay(user, started.body.paymentIntentId)).status).toBe(200);
    if (card !== CARD_OK) expect((await setCard(user, started.body.subscriptionId, card)).status).toBe(200);
    return { user, subscriptionId: started.body.subscriptionId };
  }

  it("odd plan ids are refused with 400 and leave no subscription row behind", async () => {
    const user = await newUser();
    for (const planId of [
      "",
      " pro-monthly",
      "PRO-MONTHLY",
      "pro-monthly\u0000",
      "ｐｒｏ-monthly",
      "free",
      "__proto__",
      "constructor",
      "x".repeat(1000),
      12,
      null,
      ["pro-monthly"],
      { id: "pro-monthly" },
    ]) {
      const answer = await subscribe(user, planId);
      expect(answer.status, JSON.stringify(planId)?.slice(0, 40)).toBe(400);
    }
    expect(await database.db.select().from(subscription).where(eq(subscription.userId, user.id))).toEqual([]);
  });

  it("cancel racing a downgrade: the answer never promises a switch to a plan at a period that will not come", async () => {
    for (let round = 0; round < 3; round++) {
      const { user, subscriptionId } = await subscribed("max-monthly");
      // Max has a trial: move to the first paid period first.
      await advance(user, subscriptionId);
      const [down, cancelled] = await Promise.all([changePlan(user, "pro-monthly"), cancel(user)]);
      expect(cancelled.status).toBe(200);
      expect([200, 409]).toContain(down.status);
      const summary = await summaryOf(user);
      if (summary?.cancelAtPeriodEnd) expect(summary.scheduledPlanId ?? null).toBeNull();
      const ended = await advance(user, subscriptionId);
      // Whatever the order, the provider and our row agree on what happened at the period's end.
      if (summary?.cancelAtPeriodEnd)
        expect(ended.body.subscription?.status ?? "canceled").not.toBe("active");
    }
  });

  it("a downgrade after cancelling is refused (409, nothing scheduled): there is no next period to switch in", async () => {
    const { user, subscriptionId } = await subscribed("max-monthly");
    await advance(user, subscriptionId);
    expect((await cancel(user)).status).toBe(200);
    const down = await readJson<{ error: { code: string; message: string } }>(
      await changePlan(user, "pro-monthly"),
    );
    expect(down.status).toBe(409);
    expect(down.body.error.code).toBe("subscription_not_changeable");
    expect(down.body.error.message).toMatch(/ends at the end of its period/);
    expect(await summaryOf(user)).toMatchObject({ cancelAtPeriodEnd: true, scheduledPlanId: null });
    const ended = await advance(user, subscriptionId);
    expect(ended.body.invoice).toBeNull();
  });

  it("a spend racing the renewal's rollover: 1,000 granted, 400 spent, whatever the order the user ends with 1,600", async () => {
    for (let round = 0; round < 3; round++) {
      const { user, subscriptionId } = await subscribed();
      const [spent, advanced] = await Promise.all([
        consumeCredits(database.db, {
          userId: user.id,
          amount: 400,
          description: "work",
          idempotencyKey: `spend-${randomUUID()}`,
        }),
        advance(user, subscriptionId),
      ]);
      expect(spent.ok).toBe(true);
      expect(advanced.status).toBe(200);
      expect(await balanceOf(user.id)).toBe(1600);
    }
  });

  it("cancel and upgrade at once, then the period ends: the upgrade's credits granted once, nothing after the end", async () => {
    const { user, subscriptionId } = await subscribed();
    const [up, cancelled] = await Promise.all([changePlan(user, "max-monthly"), cancel(user)]);
    expect(up.status).toBe(200);
    expect(cancelled.status).toBe(200);
    const after = await balanceOf(user.id);
    expect(after).toBeGreaterThan(1000);
    expect(after).toBeLessThanOrEqual(5000);
    const ended = await advance(user, subscriptionId);
    expect(ended.status).toBe(200);
    expect(ended.body.invoice).toBeNull();
    const again = await advance(user, subscriptionId);
    expect(again.status).toBe(409);
    expect((await grantsOf(user.id)).filter((g) => g.status === "granted")).toHaveLength(2);
    const api = await v1.balance(user.id, { key: apiKey });
    expect(api.body.plan).toMatchObject({ id: "free", status: null });
  });

  it("an unpaid Pro start replaced by Pro yearly: paying both first invoices at once makes one live subscription and charges once", async () => {
    const user = await newUser();
    const pro = await subscribe(user, "pro-monthly");
    const yearly = await subscribe(user, "pro-yearly");
    expect(pro.status).toBe(201);
    expect(yearly.status).toBe(201);
    const answers = await Promise.all([
      pay(user, pro.body.paymentIntentId),
      pay(user, yearly.body.paymentIntentId),
    ]);
    expect(answers.map((a) => a.status).filter((s) => s === 200)).toHaveLength(1);
    const live = (
      await database.db.select().from(subscription).where(eq(subscription.userId, user.id))
    ).filter((row) => ["active", "trialing", "past_due"].includes(row.status));
    expect(live).toHaveLength(1);
    expect(await purchasesOf(user.id)).toHaveLength(1);
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("past_due, then cancel, then a working card: the owed period is granted once and the subscription still ends", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly", CARD_FAILS_LATER);
    const failed = await advance(user, subscriptionId);
    expect(failed.body.subscription?.status).toBe("past_due");
    expect((await cancel(user)).status).toBe(200);
    expect((await setCard(user, subscriptionId, CARD_OK)).status).toBe(200);
    expect((await summaryOf(user))?.status).toBe("active");
    const balance = await balanceOf(user.id);
    // 1,000 of the second period, plus the first period's carry (capped at 1,000).
    expect(balance).toBe(2000);
    expect((await setCard(user, subscriptionId, CARD_OK)).status).toBe(200);
    expect(await balanceOf(user.id)).toBe(2000);
    const ended = await advance(user, subscriptionId);
    expect(ended.body.invoice).toBeNull();
    expect((await summaryOf(user))?.status ?? "canceled").toBe("canceled");
    expect(
      (await grantsOf(user.id)).filter((g) => g.status === "granted" && g.kind === "period"),
    ).toHaveLength(2);
  });

  it("a refunded renewal does not roll over: the refunded period's credits are gone and the next one brings only its own", async () => {
    const { user, subscriptionId } = await subscribed();
    await advance(user, subscriptionId);
    // 1,000 + carry 1,000.
    expect(await balanceOf(user.id)).toBe(2000);
    const purchases = (await purchasesOf(user.id)).sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime(),
    );
    const renewal = purchases[1];
    expect(renewal).toBeDefined();
    await refundPurchase(database.db, sandbox, { purchaseId: renewal?.id ?? "", reason: "asked" }, admin);
    expect(await balanceOf(user.id)).toBe(1000);
    await advance(user, subscriptionId);
    // The carry lot expired; the refunded period has nothing left to carry; the new period brings 1,000.
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("the service API's plan follows the subscription through past_due, cancel and the end", async () => {
    const { user, subscriptionId } = await subscribed("pro-monthly", CARD_FAILS_LATER);
    await advance(user, subscriptionId);
    expect((await v1.balance(user.id, { key: apiKey })).body.plan).toMatchObject({
      id: "pro-monthly",
      status: "past_due",
    });
    await cancel(user);
    // Advancing a past-due subscription retries its invoice (declined again), the clock stays.
    const retried = await advance(user, subscriptionId);
    expect(retried.body.invoice?.status).not.toBe("paid");
    expect(await balanceOf(user.id)).toBeLessThanOrEqual(1000);
  });

  it("a lot of the subscription and a user's package credits: twelve advances leave package credits untouched", async () => {
    const { user, subscriptionId } = await subscribed();
    const lots = async () =>
      (await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id))).filter(
        (l) => l.source === "subscription",
      ).length;
    for (let i = 0; i < 12; i++) expect((await advance(user, subscriptionId)).status).toBe(200);
    expect(await lots()).toBeGreaterThanOrEqual(13);
    // 1,000 this period + at most 1,000 carried.
    expect(await balanceOf(user.id)).toBe(2000);
  });
});

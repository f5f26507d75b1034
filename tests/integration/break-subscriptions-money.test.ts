import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditPurchase, sandboxPaymentIntent, subscriptionPeriodGrant } from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import changeSubscriptionRoute from "../../src/routes/credits/change-subscription";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { advancePost, handlerOf } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const subscriptionPatch = handlerOf(changeSubscriptionRoute);

describe.each(databaseKinds())("breaking the money of subscription invoices (%s)", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const newUser = () => signUp(`break-money-${randomUUID()}@example.test`);
  const advance = async (user: SignedUpUser, subscriptionId: string) =>
    readJson<{ invoice: { id: string; status: string } | null }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  const changePlan = (user: SignedUpUser, planId: string) =>
    subscriptionPatch(
      appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
      routeContext({}),
    );
  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const purchasesOf = async (userId: string) =>
    (
      await database.db
        .select()
        .from(creditPurchase)
        .where(and(eq(creditPurchase.userId, userId), eq(creditPurchase.kind, "subscription_invoice")))
    ).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  const refund = (purchaseId: string, amount?: number, requestId?: string) =>
    refundPurchase(
      database.db,
      sandbox,
      {
        purchaseId,
        reason: "asked",
        ...(amount === undefined ? {} : { amount }),
        ...(requestId ? { requestId } : {}),
      },
      admin,
    ).then(
      () => "ok",
      (error: { code?: string }) => error.code ?? "error",
    );
  /** The money the sandbox gave back for the purchase's PaymentIntent, as its own rows record it. */
  const moneyBack = async (paymentIntentId: string) =>
    (
      await database.db
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, paymentIntentId))
    )[0]?.amountRefunded ?? 0;

  it("five concurrent full refunds of a renewal invoice give back its price once and take its credits once", async () => {
    const user = await newUser();
    const { subscriptionId, paidStatus } = await subscribeAndPay(user);
    expect(paidStatus).toBe(200);
    await advance(user, subscriptionId);
    const renewal = (await purchasesOf(user.id))[1];
    expect(renewal).toBeDefined();
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => refund(renewal?.id ?? "")));
    expect(outcomes.filter((o) => o === "ok").length).toBeGreaterThanOrEqual(1);
    expect(await moneyBack(renewal?.paymentIntentId ?? "")).toBe(1900);
    const [after] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, renewal?.id ?? ""));
    expect(after?.amountRefunded).toBe(1900);
    expect(after?.clawedBackCredits).toBe(1000);
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("refunds of more than was paid, of nothing, or of a fraction are refused with a clear code; nothing moves", async () => {
    const user = await newUser();
    await subscribeAndPay(user);
    const [first] = await purchasesOf(user.id);
    for (const amount of [1901, 0, -5, 1.5, Number.MAX_SAFE_INTEGER + 2, 2 ** 63])
      expect(await refund(first?.id ?? "", amount), String(amount)).not.toBe("ok");
    expect(await refund(first?.id ?? "", 1000)).toBe("ok");
    expect(await refund(first?.id ?? "", 901)).not.toBe("ok");
    expect(await refund(first?.id ?? "", 900)).toBe("ok");
    expect(await refund(first?.id ?? "", 1)).not.toBe("ok");
    expect(await moneyBack(first?.paymentIntentId ?? "")).toBe(1900);
    expect(await balanceOf(user.id)).toBe(0);
  });

  it("a yearly invoice half refunded: every later slot arrives with its half taken back, and three job runs at once grant each slot once", async () => {
    const user = await newUser();
    const { subscriptionId } = await subscribeAndPay(user, "pro-yearly");
    const [year] = await purchasesOf(user.id);
    expect(year).toMatchObject({ amount: 19000, credits: 12000 });
    expect(await refund(year?.id ?? "", 9500)).toBe("ok");
    expect(await balanceOf(user.id)).toBe(500);
    for (let slot = 1; slot <= 3; slot++) {
      const moved = await advance(user, subscriptionId);
      expect(moved.status).toBe(200);
      await Promise.all([1, 2, 3].map(() => issueDueSlots(database.db, { subscriptionId })));
    }
    const slots = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, user.id), eq(subscriptionPeriodGrant.status, "granted")));
    expect(slots).toHaveLength(4);
    const [after] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, year?.id ?? ""));
    expect(after?.creditsIssued).toBe(4000);
    expect(after?.clawedBackCredits).toBe(2000);
    // The last slot's 1,000, half taken, plus the carry of the slot before (500 unspent, under the cap).
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("an upgrade's invoice refunded, then the renewal: the carry counts only what was left of the period after the refund", async () => {
    const user = await newUser();
    const { subscriptionId } = await subscribeAndPay(user);
    const up = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await changePlan(user, "max-monthly"),
    );
    expect(up.body.change.kind).toBe("changed_now");
    const upgrade = (await purchasesOf(user.id))[1];
    expect(upgrade?.credits).toBeGreaterThan(3900);
    expect(await refund(upgrade?.id ?? "")).toBe("ok");
    expect(await balanceOf(user.id)).toBe(1000);
    const spent = await consumeCredits(database.db, {
      userId: user.id,
      amount: 200,
      description: "work",
      idempotencyKey: `spend-${randomUUID()}`,
    });
    expect(spent.ok).toBe(true);
    await advance(user, subscriptionId);
    // Max renews: 5,000, plus the period's 800 unspent (the refunded upgrade carries nothing).
    expect(await balanceOf(user.id)).toBe(5800);
  });
});

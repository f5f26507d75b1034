import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { consumeCredits } from "../../src/credits/consume-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { creditPurchase } from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import type { PeriodUsage } from "../../src/payment/subscriptions/get-period-usage";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { advancePost, confirmPost, subscriptionGet, subscriptionsPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

describe.each(databaseKinds())("this period's credits on the credits page (%s)", (kind) => {
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

  async function period(cookie: string) {
    const { body } = await readJson<{ period: PeriodUsage | null } | null>(
      await subscriptionGet(appRequest("/api/credits/subscription", { cookie }), routeContext({})),
    );
    return body?.period;
  }

  it("shows what the period granted, what was used, what is left and what will carry", async () => {
    const user = await signUp(`usage-${randomUUID()}@example.test`);
    const { body: started } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId: "pro-monthly" } }),
        routeContext({}),
      ),
    );
    // Subscribed but not paid: no period is running.
    expect(await period(user.cookie)).toBeNull();
    await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${started.paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: "4242 4242 4242 4242" },
      }),
      routeContext({ paymentIntentId: started.paymentIntentId }),
    );
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 300,
      description: "spent",
      idempotencyKey: randomUUID(),
    });
    const first = await period(user.cookie);
    expect(first).toMatchObject({ granted: 1000, used: 300, left: 700, rollsOver: 700 });
    expect(first?.expiresAt).toBe(first?.periodEnd);

    await advancePost(
      appRequest(`/api/sandbox/subscriptions/${started.subscriptionId}/advance`, {
        cookie: user.cookie,
        json: {},
      }),
      routeContext({ subscriptionId: started.subscriptionId }),
    );
    // The next period: its 1,000 and the 700 carried; only its own 1,000 (the cap) can carry again.
    const second = await period(user.cookie);
    expect(second).toMatchObject({ granted: 1700, used: 0, left: 1700, rollsOver: 1000 });
    expect(second?.periodStart).toBe(first?.periodEnd);
  });

  it("credits a refund took back are not counted as used: used + left + takenBack = granted", async () => {
    const user = await signUp(`usage-refund-${randomUUID()}@example.test`);
    const { subscriptionId, paidStatus } = await subscribeAndPay(user, "pro-monthly");
    expect(paidStatus).toBe(200);
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 300,
      description: "spent",
      idempotencyKey: randomUUID(),
    });
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.subscriptionId, subscriptionId));
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    // Half of the $19 back: half of the 1,000 credits, taken from the period's 700 unspent.
    await refundPurchase(
      database.db,
      new SandboxPaymentProvider(database.db),
      { purchaseId: purchase!.id, reason: "customer asked", amount: 950 },
      { userId: adminId, label: "ops@example.test" },
    );
    expect(await period(user.cookie)).toMatchObject({
      granted: 1000,
      used: 300,
      takenBack: 500,
      left: 200,
      rollsOver: 200,
    });
  });
});

import { randomUUID } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { creditAllocation, creditEntry, creditLot } from "../../src/db/schema";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  balanceGet,
  confirmPost,
  purchasesPost,
  subscriptionDelete,
  subscriptionsPost,
} from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";

describe.each(databaseKinds())("rule 14: nothing a subscription does resets other credits (%s)", (kind) => {
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

  async function pay(user: SignedUpUser, paymentIntentId: string) {
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ paymentIntentId }),
    );
    expect(paid.status).toBe(200);
  }

  it("package, gift and grant lots are untouched by renewals, rollover and cancellation, even past their expiry on the subscription's clock", async () => {
    const user = await signUp(`no-reset-${randomUUID()}@example.test`);
    // A package bought (never expires), a grant for a year, and a grant that expires in ten days.
    const { body: purchase } = await readJson<{ paymentIntentId: string }>(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "standard" } }),
        routeContext({}),
      ),
    );
    await pay(user, purchase.paymentIntentId);
    const yearGrant = await addCredits(database.db, {
      userId: user.id,
      amount: 200,
      type: "grant",
      description: "Thanks for the feedback",
      idempotencyKey: "gift-year",
      expireDays: 365,
    });
    const shortGrant = await addCredits(database.db, {
      userId: user.id,
      amount: 100,
      type: "grant",
      description: "Trial boost",
      idempotencyKey: "gift-short",
      expireDays: 10,
    });

    const { body: started } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId: "pro-monthly" } }),
        routeContext({}),
      ),
    );
    await pay(user, started.paymentIntentId);
    // Spending draws the soonest-expiring credits first: the ten-day grant.
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 30,
      description: "work",
      idempotencyKey: "work-1",
    });

    const advance = () =>
      advancePost(
        appRequest(`/api/sandbox/subscriptions/${started.subscriptionId}/advance`, {
          cookie: user.cookie,
          json: {},
        }),
        routeContext({ subscriptionId: started.subscriptionId }),
      );
    expect((await advance()).status).toBe(200);
    expect((await advance()).status).toBe(200);
    const canceled = await subscriptionDelete(
      appRequest("/api/credits/subscription", { cookie: user.cookie, method: "DELETE" }),
      routeContext({}),
    );
    expect(canceled.status).toBe(200);
    expect((await advance()).status).toBe(200);

    const lots = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.userId, user.id))
      .orderBy(asc(creditLot.createdAt));
    const bySource = (source: string) => lots.filter((lot) => lot.source === source);
    expect(bySource("purchase")).toEqual([
      expect.objectContaining({ credits: 500, remaining: 500, expiresAt: null }),
    ]);
    const year = lots.find((lot) => lot.id === yearGrant.lotId);
    expect(year).toMatchObject({ credits: 200, remaining: 200 });
    // Ten days passed on the subscription's clock long before its third renewal, but not in real time:
    // the sandbox's clock moves the subscription only, and that grant's expiry is the real clock's.
    const short = lots.find((lot) => lot.id === shortGrant.lotId);
    expect(short).toMatchObject({ credits: 100, remaining: 70 });

    // Every expiry took only the subscription's credits at their periods' ends; never the package or a
    // grant, and only the spend touched the ten-day grant.
    const expired = await database.db
      .select({ lotId: creditAllocation.lotId, amount: creditAllocation.amount })
      .from(creditAllocation)
      .innerJoin(creditEntry, eq(creditEntry.id, creditAllocation.entryId))
      .where(eq(creditEntry.userId, user.id));
    const touched = new Set(expired.map((row) => row.lotId));
    expect(touched.has(bySource("purchase")[0]?.id ?? "")).toBe(false);
    expect(touched.has(yearGrant.lotId)).toBe(false);
    expect(expired.filter((row) => row.lotId === shortGrant.lotId)).toEqual([
      { lotId: shortGrant.lotId, amount: 30 },
    ]);
    // After the subscription ended, what is left is exactly the package and the two grants.
    const { body: balance } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    expect(balance.balance).toBe(770);
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import { appRequest, routeContext, signUp } from "../support/app-requests";
import { subscriptionDelete } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

describe.each(databaseKinds())("the service API's balance names the user's plan (%s)", (kind) => {
  let database: TestDatabase;
  let key: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    key = (await createApiKey(database.db, "plans", { userId: null, label: "plan tests" })).key;
  });
  afterAll(async () => {
    await database?.close();
  });

  it("Free without a subscription; Pro with its period's end once subscribed; cancelling says so", async () => {
    const user = await signUp(`plan-api-${randomUUID()}@example.test`);
    expect((await v1.balance(user.id, { key })).body.plan).toMatchObject({ id: "free", status: null });

    expect((await subscribeAndPay(user, "pro-monthly")).paidStatus).toBe(200);
    const subscribed = (await v1.balance(user.id, { key })).body;
    expect(subscribed).toMatchObject({
      balance: 1000,
      plan: {
        id: "pro-monthly",
        name: "Pro",
        status: "active",
        creditsPerPeriod: 1000,
        cancelAtPeriodEnd: false,
      },
    });
    expect(Date.parse(subscribed.plan.currentPeriodEnd ?? "")).toBeGreaterThan(Date.now() + 27 * 86_400_000);

    await subscriptionDelete(
      appRequest("/api/credits/subscription", { cookie: user.cookie, method: "DELETE" }),
      routeContext({}),
    );
    expect((await v1.balance(user.id, { key })).body.plan).toMatchObject({
      id: "pro-monthly",
      cancelAtPeriodEnd: true,
    });
  });

  it("a subscription whose first payment was declined is no plan: the user is on Free", async () => {
    const user = await signUp(`plan-api-${randomUUID()}@example.test`);
    expect((await subscribeAndPay(user, "max-monthly", "4000 0000 0000 0002")).paidStatus).toBe(402);
    expect((await v1.balance(user.id, { key })).body.plan).toMatchObject({ id: "free", status: null });
  });
});

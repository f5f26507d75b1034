import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { createApiKey } from "../../src/service-api/api-keys";
import { observedAnswers, undocumentedAnswers, v1 } from "../support/api-v1";
import { appRequest, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { openApiGet, purchasesPost } from "../support/route-handlers";
import { purchasesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({
  RATE_LIMIT_PURCHASES_PER_MINUTE: "3",
  RATE_LIMIT_API_PER_MINUTE: "5",
});
afterAll(() => serverEnv.cleanup());

describe("rate limits", () => {
  let database: TestDatabase;
  let alice: SignedUpUser;
  let bob: SignedUpUser;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    resetAuth();
    alice = await signUp("alice-limits@example.test");
    bob = await signUp("bob-limits@example.test");
  });
  afterAll(async () => {
    await database?.close();
  });

  const buy = (user: SignedUpUser) =>
    purchasesPost(
      appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
      routeContext({}),
    );

  it("limits purchase creation per user, with Retry-After, and writes nothing past the limit", async () => {
    for (let i = 0; i < 3; i++) expect((await buy(alice)).status).toBe(201);
    const limited = await buy(alice);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    expect(await purchasesOf(database.db, alice.id)).toHaveLength(3);
    // Another user has a budget of their own.
    expect((await buy(bob)).status).toBe(201);
  });

  it("limits the service API per key", async () => {
    await addCredits(database.db, {
      userId: alice.id,
      amount: 100,
      type: "grant",
      description: "seed",
      idempotencyKey: "s",
    });
    const first = (await createApiKey(database.db, "first", { userId: null, label: "test" })).key;
    const second = (await createApiKey(database.db, "second", { userId: null, label: "test" })).key;
    for (let i = 0; i < 5; i++)
      expect((await v1.consume(alice.id, { key: first, json: { amount: 1 } })).status).toBe(200);
    const limited = await v1.consume(alice.id, { key: first, json: { amount: 1 } });
    expect(limited.status).toBe(429);
    expect(limited.body.error?.code).toBe("rate_limited");
    expect((await v1.balance(alice.id, { key: second })).body.balance).toBe(95);
    // The document says when to come back: Retry-After on the 429, as the route sends it.
    const document = await (
      await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"))
    ).json();
    expect(observedAnswers).toContainEqual(expect.objectContaining({ status: 429, retryAfter: true }));
    expect(undocumentedAnswers(document, observedAnswers)).toEqual([]);
  });
});

import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot } from "../../src/db/schema";
import { createApiKey } from "../../src/service-api/api-keys";
import { type V1Call, v1 } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

/**
 * What another backend sees when credits it reserved expire before it captures: the capture is paid from
 * credits still alive, or answered 402 insufficient_credits with the hold left open. Everything runs on
 * the database's clock; the lot's expiry is moved into the past once the hold is made.
 */
describe.each(databaseKinds())("service API: capture after the reserved credits expired on %s", (kind) => {
  let database: TestDatabase;
  let key: string;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    key = (await createApiKey(database.db, "billing", { userId: null, label: "tests" })).key;
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });
  const as = (call: V1Call = {}): V1Call => ({ key, ...call });

  it("answers 402 and keeps the hold open when the rest cannot pay; a smaller capture then succeeds", async () => {
    const userId = await seedUser(database.db);
    const short = await addCredits(database.db, {
      userId,
      amount: 50,
      type: "grant",
      description: "short",
      idempotencyKey: "short",
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "long",
      idempotencyKey: "long",
    });
    const hold = await v1.hold(userId, as({ json: { amount: 40, ttlSeconds: 600 } }));
    expect(hold.status).toBe(201);
    // Time passes: the short lot is now at its expiry, by the database's clock (the entries written so far
    // stay before it).
    await database.db.update(creditLot).set({ expiresAt: sql`now()` }).where(eq(creditLot.id, short.lotId));

    const refused = await v1.capture(hold.body.holdId, as({ json: { amount: 40 } }));
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({ code: "insufficient_credits", available: 10 });
    expect((await v1.balance(userId, as())).body).toMatchObject({
      balance: 10,
      held: 0,
      available: 10,
      debt: 0,
    });
    const history = await v1.transactions(userId, as());
    expect(history.body.items.map((item) => [item.type, item.amount, item.balanceAfter])).toEqual([
      ["expire", -50, 10],
      ["grant", 10, 60],
      ["grant", 50, 50],
    ]);

    const smaller = await v1.capture(hold.body.holdId, as({ json: { amount: 10 } }));
    expect(smaller).toMatchObject({ status: 200, body: { balance: 0 } });
  });
});

import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiConsume } from "../../src/service-api/api-consume";
import { createApiKey } from "../../src/service-api/api-keys";
import { testDatabaseUrl } from "../support/paths";
import { seedUserWithCredits } from "../support/seed";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * Group commit of service-API spends (src/service-api/api-spend-batches.ts) must not let one locked account
 * hold up other users. runApiSpend lets 4 statements run at once (MAX_BATCHES_IN_FLIGHT) and makes every other spend of the
 * process wait for one of them. A statement whose user's account row is locked by another transaction (a
 * slow webhook, an operator's session, the lock-contention fault) waits up to lock_timeout (5 s), and its
 * slot with it. Four spends of that one user (a client's retries are enough) take all four slots, and every
 * other user's spend waits behind them for the 5 s, then gets through: one locked account stalls the service
 * API of the whole instance. Before group commit each spend waited on its own pool connection and other
 * users were not held up (tests/faults/lock-contention.test.ts checks "other users are not blocked" with a
 * single spend of the locked user, which takes one slot of four). Hence the batch function's short lock
 * timeout, after which a spend waits alone, outside the slots. PostgreSQL only (PGlite has one
 * connection, and so no lock waits).
 */
describe.skipIf(!testDatabaseUrl())("spends of other users while one user's account is locked", () => {
  let database: TestDatabase;
  let apiKeyId: string;

  beforeAll(async () => {
    // The app's pool size (src/db/connect.ts).
    database = await createTestDatabase("postgres", { poolSize: 10 });
    apiKeyId = (await createApiKey(database.db, "backend", { userId: null, label: "tests" })).apiKey.id;
  });
  afterAll(async () => {
    await database?.close();
  });

  const userWith = (credits: number) => seedUserWithCredits(database.db, credits);

  async function timedSpend(userId: string): Promise<{ status: number | string; ms: number }> {
    const started = Date.now();
    try {
      const answer = await apiConsume(database.db, {
        apiKeyId,
        apiKeyName: "backend",
        idempotencyKey: randomUUID(),
        path: `/api/v1/users/${userId}/consume`,
        userId,
        body: { amount: 1 },
      });
      return { status: answer.status, ms: Date.now() - started };
    } catch (error) {
      return { status: (error as { code?: string }).code ?? "error", ms: Date.now() - started };
    }
  }

  it("answers other users' spends at once while four spends wait on one locked account", {
    timeout: 30_000,
  }, async () => {
    const locked = await userWith(100);
    const others = await Promise.all(Array.from({ length: 10 }, () => userWith(100)));
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM credit_account WHERE user_id = $1 FOR UPDATE", [locked]);
      const waiting = Array.from({ length: 4 }, () => timedSpend(locked));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const answers = await Promise.all(others.map((userId) => timedSpend(userId)));
      await holder.query("ROLLBACK");
      // The locked user's spends are not lost: each is answered once the lock is gone.
      expect((await Promise.all(waiting)).map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      expect(answers.map((answer) => answer.status)).toEqual(others.map(() => 200));
      // Each is a few milliseconds of work; 5 s (lock_timeout) means it waited behind the locked user.
      expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(2_000);
    } finally {
      await holder.end();
    }
  });
});

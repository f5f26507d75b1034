import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { type ConsumeCreditsResult, consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { assertLedgerInvariants } from "../support/invariants";
import { testDatabaseUrl } from "../support/paths";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * Races only mean something with real parallel connections: PGlite runs one query at a time, so these
 * run on PostgreSQL only (set TEST_DATABASE_URL) and are reported as skipped otherwise.
 */
describe.skipIf(!testDatabaseUrl())("concurrent ledger operations on postgres", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("postgres", { poolSize: 20 });
  });
  // `verify` after every test: a test can pass and still leave the ledger inconsistent.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  async function userWith(credits: number): Promise<string> {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: credits,
      type: "grant",
      description: "start",
      idempotencyKey: "start",
    });
    return userId;
  }

  function tally(results: ConsumeCreditsResult[]) {
    return {
      ok: results.filter((r) => r.ok).length,
      insufficient: results.filter((r) => !r.ok && r.reason === "insufficient_credits").length,
    };
  }

  it("lets exactly 50 of 200 parallel one-credit spends through a balance of 50", async () => {
    const userId = await userWith(50);

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        consumeCredits(database.db, { userId, amount: 1, description: "job", idempotencyKey: `job-${i}` }),
      ),
    );

    expect(tally(results)).toEqual({ ok: 50, insufficient: 150 });
    // Each successful spend saw the one before it: the balances after them are 49, 48, ... 0, once each.
    const after = results.flatMap((r) => (r.ok ? [r.balance] : [])).sort((a, b) => a - b);
    expect(after).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect((await getBalance(database.db, userId)).balance).toBe(0);
    const consumed = (await entriesOf(database.db, userId)).filter((e) => e.type === "consume");
    expect(consumed).toHaveLength(50);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });

  it("applies one spend when the same idempotency key arrives 20 times at once", async () => {
    const userId = await userWith(100);

    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        consumeCredits(database.db, { userId, amount: 7, description: "render", idempotencyKey: "render-1" }),
      ),
    );

    expect(results.every((r) => r.ok)).toBe(true);
    const entryIds = new Set(results.map((r) => (r.ok ? r.entryId : null)));
    expect(entryIds.size).toBe(1);
    expect(results.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
    expect(results.map((r) => (r.ok ? r.balance : null))).toEqual(Array(20).fill(93));
    expect((await getBalance(database.db, userId)).balance).toBe(93);
    expect((await entriesOf(database.db, userId)).filter((e) => e.type === "consume")).toHaveLength(1);
  });

  it("grants once when the same grant key arrives 20 times at once for a user with no account yet", async () => {
    const userId = await seedUser(database.db);

    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        addCredits(database.db, {
          userId,
          amount: 25,
          type: "grant",
          description: "welcome",
          idempotencyKey: "welcome",
        }),
      ),
    );

    expect(new Set(results.map((r) => r.entryId)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await getBalance(database.db, userId)).balance).toBe(25);
  });

  it("keeps each user's balance exact when spends for several users interleave", async () => {
    const starting = [30, 45, 12, 1, 60];
    const users = await Promise.all(starting.map((credits) => userWith(credits)));
    // Every user asks for 50 spends of 1; the second also for 5 spends of 5. All shuffled together.
    const work: { user: number; amount: number; key: string }[] = [];
    for (const user of users.keys()) {
      for (let i = 0; i < 50; i++) work.push({ user, amount: 1, key: `one-${i}` });
      if (user === 1) for (let i = 0; i < 5; i++) work.push({ user, amount: 5, key: `five-${i}` });
    }
    work.sort(() => Math.random() - 0.5);

    const results = await Promise.all(
      work.map(async ({ user, amount, key }) => {
        const userId = users[user] ?? "";
        const result = await consumeCredits(database.db, {
          userId,
          amount,
          description: "mixed",
          idempotencyKey: key,
        });
        return { user, amount, ok: result.ok };
      }),
    );

    const balances = await Promise.all(
      users.map(async (userId) => (await getBalance(database.db, userId)).balance),
    );
    const spent = users.map((_, user) =>
      results.filter((r) => r.user === user && r.ok).reduce((sum, r) => sum + r.amount, 0),
    );
    // Whoever asked for more than they had is spent down to exactly zero; the last user had enough for all 50.
    expect(balances).toEqual([0, 0, 0, 0, 10]);
    expect(spent).toEqual([30, 45, 12, 1, 50]);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });
  it("never over-commits when holds and spends race for the same credits", async () => {
    const userId = await userWith(100);
    const attempts = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? createHold(database.db, {
              userId,
              amount: 7,
              description: "render",
              idempotencyKey: `hold-${i}`,
            }).then((r): number => (r.ok ? 7 : 0))
          : consumeCredits(database.db, {
              userId,
              amount: 3,
              description: "job",
              idempotencyKey: `spend-${i}`,
            }).then((r): number => (r.ok ? 3 : 0)),
      ),
    );
    const committed = attempts.reduce((sum, amount) => sum + amount, 0);
    expect(committed).toBeLessThanOrEqual(100);
    const balance = await getBalance(database.db, userId);
    expect(balance.available).toBe(100 - committed);
    expect(balance.balance - balance.held).toBe(balance.available);
  });
});

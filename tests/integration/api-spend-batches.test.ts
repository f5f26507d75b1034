import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { IdempotencyConflictError, NotFoundError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { apiConsume } from "../../src/service-api/api-consume";
import { createApiKey } from "../../src/service-api/api-keys";
import { apiSpendBatchStats } from "../../src/service-api/api-spend-batches";
import { entriesOf } from "../support/rows";
import { seedUserWithCredits } from "../support/seed";
import { databaseKinds, type TestDatabase, useTestDatabase } from "../support/test-database";

/**
 * Group commit of service-API spends (runApiSpend, creditkit_api_consume_batch): spends of many users that
 * arrive together go to the database as one statement. A caller must not be able to tell: each spend is
 * checked, recorded and answered as if it ran alone, and one spend that fails does not fail the others.
 */
describe.each(databaseKinds())("service-API spends committed together on %s", (kind) => {
  const database: TestDatabase = useTestDatabase(kind, { poolSize: 10 });
  let apiKeyId: string;

  beforeAll(async () => {
    apiKeyId = (await createApiKey(database.db, "billing-backend", { userId: null, label: "tests" })).apiKey
      .id;
  });

  const userWith = (credits: number) => seedUserWithCredits(database.db, credits);

  const spend = (userId: string, idempotencyKey: string, amount: number) =>
    apiConsume(database.db, {
      apiKeyId,
      apiKeyName: "billing-backend",
      idempotencyKey,
      path: `/api/v1/users/${userId}/consume`,
      userId,
      body: { amount },
    });

  it("answers each spend of a crowd as if it ran alone: spent, refused, replayed, conflicting, unknown", async () => {
    const users = await Promise.all(Array.from({ length: 30 }, () => userWith(10)));
    const before = apiSpendBatchStats(database.db);
    const repeatedKey = randomUUID();
    const calls: { label: string; userId: string; run: Promise<unknown> }[] = [];
    for (const userId of users) {
      // Three spends of 4 against 10 credits: two are paid, one is refused, whatever the order.
      for (let i = 0; i < 3; i += 1)
        calls.push({ label: "spend", userId, run: spend(userId, randomUUID(), 4).catch((e) => e) });
    }
    const first = users[0] as string;
    // The same request twice with one key (one answer, one entry) and the key again for another amount.
    const twice = [spend(first, repeatedKey, 1), spend(first, repeatedKey, 1)];
    const other = spend(first, repeatedKey, 2).catch((e) => e);
    const unknown = spend(`no-such-user-${randomUUID()}`, randomUUID(), 1).catch((e) => e);

    const answers = await Promise.all(calls.map((c) => c.run));
    const [a, b] = await Promise.all(twice);
    const after = apiSpendBatchStats(database.db);

    // Fewer statements than spends: the crowd was committed in batches.
    expect(after.spends - before.spends).toBe(calls.length + 4);
    expect(after.batches - before.batches).toBeLessThan(after.spends - before.spends);

    for (const userId of users) {
      const mine = answers.filter((_, index) => calls[index]?.userId === userId) as {
        status: number;
      }[];
      expect(mine.map((answer) => answer.status).sort()).toEqual([200, 200, 402]);
    }
    expect([a?.status, b?.status]).toEqual([200, 200]);
    expect(a?.body).toEqual(b?.body);
    expect([a?.replayed, b?.replayed].sort()).toEqual([false, true]);
    expect(await other).toBeInstanceOf(IdempotencyConflictError);
    expect(await unknown).toBeInstanceOf(NotFoundError);

    // Every user: 10 - 8 (and the first user's one repeated spend of 1, once).
    expect((await getBalance(database.db, first)).balance).toBe(1);
    for (const userId of users.slice(1)) expect((await getBalance(database.db, userId)).balance).toBe(2);
    expect((await entriesOf(database.db, first)).filter((e) => e.type === "consume")).toHaveLength(3);
  });

  it("answers only the spend that fails with an error when a batch it was in fails", async () => {
    const healthy = await Promise.all(Array.from({ length: 12 }, () => userWith(10)));
    const broken = await userWith(10);
    // A ledger whose account says more than its lots hold: the spend of 12 passes the balance check and
    // then fails drawing from the lots (the database raises), which aborts the statement it is in.
    await database.db.execute(sql`UPDATE credit_account SET balance = balance + 5 WHERE user_id = ${broken}`);
    const before = apiSpendBatchStats(database.db);

    const healthyAnswers = healthy.map((userId) => spend(userId, randomUUID(), 3));
    const brokenAnswer = spend(broken, randomUUID(), 12).catch((e) => e);
    const moreAnswers = healthy.map((userId) => spend(userId, randomUUID(), 3));

    const answers = await Promise.all([...healthyAnswers, ...moreAnswers]);
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    const failure = (await brokenAnswer) as Error;
    expect(failure).toBeInstanceOf(Error);
    expect(`${failure.message} ${(failure.cause as Error | undefined)?.message}`).toMatch(
      /ledger inconsistency/,
    );
    const after = apiSpendBatchStats(database.db);
    expect(after.batches - before.batches).toBeLessThan(after.spends - before.spends);

    for (const userId of healthy) expect((await getBalance(database.db, userId)).balance).toBe(4);
    expect((await getBalance(database.db, broken)).balance).toBe(15);
    expect((await entriesOf(database.db, broken)).filter((e) => e.type === "consume")).toHaveLength(0);
    // Mended, for the ledger check every test of this suite ends with.
    await database.db.execute(sql`UPDATE credit_account SET balance = balance - 5 WHERE user_id = ${broken}`);
  });
});

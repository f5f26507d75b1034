import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { IdempotencyConflictError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { apiIdempotency } from "../../src/db/schema";
import { apiConsume, apiRequestHash } from "../../src/service-api/api-consume";
import { createApiKey } from "../../src/service-api/api-keys";
import { entriesOf } from "../support/rows";
import { seedUserWithCredits } from "../support/seed";
import { databaseKinds, type TestDatabase, useTestDatabase } from "../support/test-database";

/**
 * The service API's spend (apiConsume): the database function returns the outcome as data and the answer
 * is built in TypeScript. What a caller sees must not depend on that: the same statuses and the same bytes
 * as when SQL built the answers, a retry answered with the first answer, and answers recorded by the
 * earlier function replayed as they were recorded.
 */
describe.each(databaseKinds())("the service API's spend on %s", (kind) => {
  const database: TestDatabase = useTestDatabase(kind, { poolSize: 30 });
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

  /** What goes over the wire: the status and the body's JSON text. */
  const wire = (answer: { status: number; body: unknown; replayed: boolean }) => ({
    status: answer.status,
    json: JSON.stringify(answer.body),
    replayed: answer.replayed,
  });

  it("answers a spend with the balance after and the entry, and a retry with the same bytes", async () => {
    const userId = await userWith(100);
    const key = randomUUID();
    const first = wire(await spend(userId, key, 30));
    const [entry] = (await entriesOf(database.db, userId)).filter((e) => e.type === "consume");

    // The key order is the one the answers had when PostgreSQL's jsonb built them.
    expect(first).toEqual({ status: 200, json: `{"balance":70,"entryId":"${entry?.id}"}`, replayed: false });
    expect(wire(await spend(userId, key, 30))).toEqual({ ...first, replayed: true });
    expect((await getBalance(database.db, userId)).balance).toBe(70);
  });

  it("answers 402 with what is available, and the same 402 to a retry after a top-up", async () => {
    const userId = await userWith(5);
    const key = randomUUID();
    const refused = wire(await spend(userId, key, 8));
    expect(refused).toEqual({
      status: 402,
      json: '{"error":{"code":"insufficient_credits","message":"Not enough credits.","available":5}}',
      replayed: false,
    });

    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "top-up",
      idempotencyKey: "top-up",
    });
    expect(wire(await spend(userId, key, 8))).toEqual({ ...refused, replayed: true });
    expect((await getBalance(database.db, userId)).balance).toBe(15);
  });

  it("replays answers the earlier function recorded (the body as it was sent), and spends nothing", async () => {
    const userId = await userWith(50);
    // As the earlier function stored them: the HTTP body, under the request's fingerprint.
    const recorded = [
      { key: randomUUID(), amount: 7, status: 200, body: { balance: 43, entryId: "918273" } },
      {
        key: randomUUID(),
        amount: 80,
        status: 402,
        body: { error: { code: "insufficient_credits", message: "Not enough credits.", available: 43 } },
      },
    ];
    for (const record of recorded) {
      await database.db.insert(apiIdempotency).values({
        apiKeyId,
        idempotencyKey: record.key,
        requestHash: apiRequestHash(`/api/v1/users/${userId}/consume`, { amount: record.amount }),
        responseStatus: record.status,
        responseBody: record.body,
      });
    }
    const before = await entriesOf(database.db, userId);

    for (const record of recorded) {
      expect(wire(await spend(userId, record.key, record.amount))).toEqual({
        status: record.status,
        json: JSON.stringify(record.body),
        replayed: true,
      });
    }
    expect(await entriesOf(database.db, userId)).toEqual(before);
    // Another request under a recorded key is still a conflict.
    await expect(spend(userId, recorded[0]?.key as string, 8)).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
  });

  it("records one answer per key, and none for an unknown user", async () => {
    const userId = await userWith(10);
    const key = randomUUID();
    await spend(userId, key, 1);
    await spend(userId, key, 1);
    const unknownKey = randomUUID();
    await expect(spend(randomUUID(), unknownKey, 1)).rejects.toMatchObject({ code: "not_found" });

    const records = (idempotencyKey: string) =>
      database.db
        .select({ status: apiIdempotency.responseStatus })
        .from(apiIdempotency)
        .where(and(eq(apiIdempotency.apiKeyId, apiKeyId), eq(apiIdempotency.idempotencyKey, idempotencyKey)));
    expect(await records(key)).toEqual([{ status: 200 }]);
    expect(await records(unknownKey)).toEqual([]);
  });

  describe.runIf(kind === "postgres")("one key sent for two different requests at once (PostgreSQL)", () => {
    it("applies exactly one of them; the other is a conflict and leaves nothing behind", async () => {
      for (let round = 0; round < 10; round++) {
        const [alice, bob] = [await userWith(20), await userWith(20)];
        const key = randomUUID();
        const answers = await Promise.allSettled([spend(alice, key, 3), spend(bob, key, 4)]);

        const applied = answers.filter((a) => a.status === "fulfilled");
        const refused = answers.filter((a) => a.status === "rejected");
        expect(applied).toHaveLength(1);
        expect(refused.map((a) => (a as PromiseRejectedResult).reason)).toEqual([
          expect.any(IdempotencyConflictError),
        ]);
        const aliceApplied = answers[0]?.status === "fulfilled";
        expect({
          alice: (await getBalance(database.db, alice)).balance,
          bob: (await getBalance(database.db, bob)).balance,
        }).toEqual(aliceApplied ? { alice: 17, bob: 20 } : { alice: 20, bob: 16 });
      }
    });
  });
});

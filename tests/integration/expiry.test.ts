import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { listExpiringCredits } from "../../src/credits/list-expiring-credits";
import { listTransactions } from "../../src/credits/list-transactions";
import { runSweep } from "../../src/jobs/run-sweep";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const DAY = 86_400_000;

describe.each(databaseKinds())("expiry sweep on %s", (kind) => {
  const database = useTestDatabase(kind);

  it("writes one expiry entry per expired lot, exactly once, and releases holds past their TTL", async () => {
    const start = new Date("2031-03-01T00:00:00Z");
    const users = [await seedUser(database.db), await seedUser(database.db), await seedUser(database.db)];
    for (const [index, userId] of users.entries()) {
      await addCredits(
        database.db,
        {
          userId,
          amount: 10 + index,
          type: "grant",
          description: "short",
          idempotencyKey: "a",
          expireDays: 1,
        },
        start,
      );
      await addCredits(
        database.db,
        { userId, amount: 5, type: "grant", description: "short2", idempotencyKey: "b", expireDays: 2 },
        start,
      );
      await addCredits(
        database.db,
        { userId, amount: 100, type: "grant", description: "long", idempotencyKey: "c" },
        start,
      );
    }
    const held = await createHold(
      database.db,
      { userId: users[0]!, amount: 50, description: "job", idempotencyKey: "h", ttlSeconds: 3600 },
      start,
    );
    expect(held.ok).toBe(true);

    const later = new Date(start.getTime() + 3 * DAY);
    const first = await runSweep(database.db, later);
    // The first user's hold had drawn its two short lots empty: those held credits expire with their lots
    // (held credits do not outlive their lot), so all six lots expire; the hold then returns only the credits
    // it held in the long lot.
    expect(first).toMatchObject({ expiredLots: 6, users: 3, releasedHolds: 1 });
    const second = await runSweep(database.db, later);
    expect(second).toMatchObject({ expiredLots: 0, releasedHolds: 0 });

    for (const userId of users) {
      expect(await getBalance(database.db, userId, later)).toEqual({
        balance: 100,
        held: 0,
        available: 100,
        debt: 0,
      });
      const expiries = (await listTransactions(database.db, { userId })).items.filter(
        (item) => item.type === "expire",
      );
      expect(expiries).toHaveLength(2);
    }
  });

  it("lists the credits that expire in the next 30 days, soonest first", async () => {
    const now = new Date("2031-06-01T00:00:00Z");
    const userId = await seedUser(database.db);
    await addCredits(
      database.db,
      { userId, amount: 7, type: "grant", description: "a", idempotencyKey: "a", expireDays: 20 },
      now,
    );
    await addCredits(
      database.db,
      { userId, amount: 3, type: "grant", description: "b", idempotencyKey: "b", expireDays: 5 },
      now,
    );
    await addCredits(
      database.db,
      { userId, amount: 9, type: "grant", description: "c", idempotencyKey: "c", expireDays: 45 },
      now,
    );
    await addCredits(
      database.db,
      { userId, amount: 1, type: "grant", description: "d", idempotencyKey: "d" },
      now,
    );
    const expiring = await listExpiringCredits(database.db, userId, 30, now);
    expect(expiring.total).toBe(10);
    expect(expiring.lots.map((lot) => lot.credits)).toEqual([3, 7]);
  });
});

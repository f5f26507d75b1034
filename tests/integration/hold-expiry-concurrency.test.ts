import { inArray, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { creditLot } from "../../src/db/schema";
import { runSweep } from "../../src/jobs/run-sweep";
import { assertLedgerInvariants } from "../support/invariants";
import { testDatabaseUrl } from "../support/paths";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * Captures racing the sweep over holds whose lot has just expired. Whichever takes the user's lock first,
 * the held credits expire exactly once, before the capture, and the capture is paid from credits still
 * alive. Races need real parallel connections: PostgreSQL only (TEST_DATABASE_URL).
 */
describe.skipIf(!testDatabaseUrl())("captures racing the expiry sweep on postgres", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("postgres", { poolSize: 20 });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("expires held credits once and captures from live credits, whoever wins the lock", async () => {
    const users = await Promise.all(Array.from({ length: 12 }, () => seedUser(database.db)));
    const holds: string[] = [];
    const shortLots: string[] = [];
    for (const userId of users) {
      const short = await addCredits(database.db, {
        userId,
        amount: 100,
        type: "grant",
        description: "short",
        idempotencyKey: "short",
        expiresAt: new Date(Date.now() + 86_400_000),
      });
      shortLots.push(short.lotId);
      await addCredits(database.db, {
        userId,
        amount: 80,
        type: "grant",
        description: "long",
        idempotencyKey: "long",
      });
      const hold = await createHold(database.db, {
        userId,
        amount: 60,
        description: "job",
        idempotencyKey: "h",
      });
      if (!hold.ok) throw new Error("hold refused");
      holds.push(hold.holdId);
    }
    // Time passes: every short lot is now at its expiry, by the database's clock (the entries written so far
    // stay before it).
    await database.db
      .update(creditLot)
      .set({ expiresAt: sql`now()` })
      .where(inArray(creditLot.id, shortLots));

    const results = await Promise.all([
      runSweep(database.db),
      ...holds.map((holdId) => captureHold(database.db, { holdId, amount: 60 })),
      runSweep(database.db),
    ]);
    for (const captured of results.slice(1, -1)) {
      expect(captured).toMatchObject({ status: "captured", captured: 60, expired: 60, balance: 20 });
    }
    for (const userId of users) {
      expect(await getBalance(database.db, userId)).toEqual({ balance: 20, held: 0, available: 20, debt: 0 });
      const entries = (await entriesOf(database.db, userId)).map((e) => [e.type, e.amount, e.balanceAfter]);
      expect(entries).toEqual([
        ["grant", 100, 100],
        ["grant", 80, 180],
        ["expire", -100, 80],
        ["consume", -60, 20],
      ]);
    }
  });
});

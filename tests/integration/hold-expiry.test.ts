import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { releaseHold } from "../../src/credits/release-hold";
import { creditAllocation, creditHold } from "../../src/db/schema";
import { runSweep } from "../../src/jobs/run-sweep";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const HOUR = 3_600_000;

/**
 * A hold does not extend the life of the credits it reserves: when their lot expires they expire with it
 * (the hold's reservation and `held` shrink), and a capture never spends them. The ledger writes the
 * expiry before the capture, with the right balance after each entry.
 */
describe.each(databaseKinds())("held credits expire with their lot on %s", (kind) => {
  const database = useTestDatabase(kind);
  const start = new Date("2032-03-01T00:00:00Z");
  const afterExpiry = new Date(start.getTime() + 2 * HOUR);

  /** Lot A expires after an hour; lot B never does. A hold (TTL 3 h) reserves from A first. */
  async function setUp(aCredits: number, bCredits: number, holdAmount: number) {
    const userId = await seedUser(database.db);
    const a = await addCredits(
      database.db,
      {
        userId,
        amount: aCredits,
        type: "grant",
        description: "short",
        idempotencyKey: "a",
        expiresAt: new Date(start.getTime() + HOUR),
      },
      start,
    );
    const b = await addCredits(
      database.db,
      { userId, amount: bCredits, type: "grant", description: "long", idempotencyKey: "b" },
      start,
    );
    const hold = await createHold(
      database.db,
      { userId, amount: holdAmount, description: "job", idempotencyKey: "h", ttlSeconds: 3 * 3600 },
      start,
    );
    if (!hold.ok) throw new Error("hold refused");
    return { userId, lotA: a.lotId, lotB: b.lotId, holdId: hold.holdId };
  }

  async function ledger(userId: string) {
    return (await entriesOf(database.db, userId)).map((e) => [e.type, e.amount, e.balanceAfter]);
  }

  async function allocations(entryId: number | null) {
    const rows = await database.db
      .select()
      .from(creditAllocation)
      .where(eq(creditAllocation.entryId, entryId ?? 0));
    return Object.fromEntries(rows.map((row) => [row.lotId, row.amount]));
  }

  it("a capture after the lot expired writes the expiry first and takes the cost from credits still alive", async () => {
    const { userId, lotB, holdId } = await setUp(100, 80, 60);
    // Before any mutation, the balance already excludes the expired lot, held credits included.
    expect(await getBalance(database.db, userId, afterExpiry)).toEqual({
      balance: 80,
      held: 0,
      available: 80,
      debt: 0,
    });

    const captured = await captureHold(database.db, { holdId, amount: 60 }, afterExpiry);
    expect(captured).toMatchObject({
      status: "captured",
      captured: 60,
      expired: 60,
      returned: 0,
      balance: 20,
    });
    expect(await ledger(userId)).toEqual([
      ["grant", 100, 100],
      ["grant", 80, 180],
      ["expire", -100, 80],
      ["consume", -60, 20],
    ]);
    if (!captured.ok) throw new Error("capture refused");
    expect(await allocations(captured.entryId)).toEqual({ [lotB]: 60 });
    expect(await getBalance(database.db, userId, afterExpiry)).toEqual({
      balance: 20,
      held: 0,
      available: 20,
      debt: 0,
    });
  });

  it("a capture that the credits still alive cannot pay answers insufficient_credits and leaves the hold open", async () => {
    const { userId, holdId } = await setUp(100, 30, 60);
    const refused = await captureHold(database.db, { holdId, amount: 60 }, afterExpiry);
    // An expected outcome, returned like a spend's shortfall, not thrown.
    expect(refused).toEqual({ ok: false, reason: "insufficient_credits", holdId, available: 30 });
    // The expiry is recorded; nothing was captured; the hold is open with nothing left in it.
    expect(await ledger(userId)).toEqual([
      ["grant", 100, 100],
      ["grant", 30, 130],
      ["expire", -100, 30],
    ]);
    const [row] = await database.db.select().from(creditHold).where(eq(creditHold.id, holdId));
    expect(row).toMatchObject({ status: "open", amount: 60, expiredAmount: 60 });
    expect(await getBalance(database.db, userId, afterExpiry)).toEqual({
      balance: 30,
      held: 0,
      available: 30,
      debt: 0,
    });
    // The integrator can capture what can be paid, which comes from the available credits.
    const smaller = await captureHold(database.db, { holdId, amount: 30 }, afterExpiry);
    expect(smaller).toMatchObject({ status: "captured", captured: 30, balance: 0 });
  });

  it("a partly expired hold captures what is left in it first, then the shortfall; release returns only what is alive", async () => {
    const first = await setUp(40, 100, 60); // the hold takes 40 from A and 20 from B
    const captured = await captureHold(database.db, { holdId: first.holdId, amount: 30 }, afterExpiry);
    expect(captured).toMatchObject({ captured: 30, expired: 40, returned: 0, balance: 70 });
    expect(await ledger(first.userId)).toEqual([
      ["grant", 40, 40],
      ["grant", 100, 140],
      ["expire", -40, 100],
      ["consume", -30, 70],
    ]);
    if (!captured.ok) throw new Error("capture refused");
    expect(await allocations(captured.entryId)).toEqual({ [first.lotB]: 30 });

    const second = await setUp(40, 100, 60);
    const released = await releaseHold(database.db, { holdId: second.holdId }, afterExpiry);
    expect(released).toMatchObject({ status: "released", expired: 40, returned: 20, balance: 100 });
    expect(await getBalance(database.db, second.userId, afterExpiry)).toEqual({
      balance: 100,
      held: 0,
      available: 100,
      debt: 0,
    });
  });

  it("any mutation expires held credits first, and so does the sweep when the lot has nothing else left", async () => {
    const spender = await setUp(100, 10, 100); // the hold empties lot A
    expect(
      await consumeCredits(
        database.db,
        { userId: spender.userId, amount: 10, description: "x", idempotencyKey: "s" },
        afterExpiry,
      ),
    ).toMatchObject({ ok: true, balance: 0 });
    expect(await ledger(spender.userId)).toEqual([
      ["grant", 100, 100],
      ["grant", 10, 110],
      ["expire", -100, 10],
      ["consume", -10, 0],
    ]);
    expect(await getBalance(database.db, spender.userId, afterExpiry)).toMatchObject({ balance: 0, held: 0 });

    const idle = await setUp(100, 10, 100);
    const swept = await runSweep(database.db, afterExpiry);
    expect(swept.expiredLots).toBeGreaterThanOrEqual(1);
    expect(await ledger(idle.userId)).toEqual([
      ["grant", 100, 100],
      ["grant", 10, 110],
      ["expire", -100, 10],
    ]);
    expect(await getBalance(database.db, idle.userId, afterExpiry)).toEqual({
      balance: 10,
      held: 0,
      available: 10,
      debt: 0,
    });
    // The hold lives on with nothing in it until its owner settles it or its time-to-live ends.
    expect(await releaseHold(database.db, { holdId: idle.holdId }, afterExpiry)).toMatchObject({
      returned: 0,
      expired: 100,
      balance: 10,
    });
  });
});

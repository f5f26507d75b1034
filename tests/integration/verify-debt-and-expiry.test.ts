import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { createHold } from "../../src/credits/create-hold";
import { releaseHold } from "../../src/credits/release-hold";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { seedUser } from "../support/seed";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const HOUR = 3_600_000;

/**
 * `verify` catches the two faults these rules close, on a ledger written the way the code before them
 * wrote it (a hold released after a refund put its credits back while the debt stayed; a capture spent
 * credits whose lot had expired), and passes on the ledger the same steps write now. The old writes are
 * reproduced statement for statement, since the code that made them is gone.
 */
describe.each(databaseKinds())("verify: debt and expiry invariants on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function violationsOf(userId: string) {
    return (await verifyLedger(database.db)).violations.filter((v) => v.userId === userId);
  }

  async function refundedWhileHeld() {
    const userId = await seedUser(database.db);
    const lot = await addCredits(database.db, {
      userId,
      amount: 500,
      type: "purchase",
      description: "Purchased",
      idempotencyKey: "buy",
    });
    const hold = await createHold(database.db, {
      userId,
      amount: 500,
      description: "job",
      idempotencyKey: "h",
    });
    if (!hold.ok) throw new Error("hold refused");
    await clawBackCredits(database.db, {
      userId,
      amount: 500,
      type: "refund",
      description: "Refunded",
      idempotencyKey: "refund",
      preferLotIds: [lot.lotId],
    });
    return { userId, lotId: lot.lotId, holdId: hold.holdId };
  }

  it("flags debt next to spendable credits (a release that ignored the debt), and not a release that repaid it", async () => {
    const old = await refundedWhileHeld();
    // What releasing the hold wrote before: the credits back into the lot, the hold closed, nothing repaid.
    await database.db.execute(sql`UPDATE credit_lot SET remaining = remaining + 500 WHERE id = ${old.lotId}`);
    await database.db.execute(
      sql`UPDATE credit_hold SET status = 'released', captured_amount = 0, closed_at = now() WHERE id = ${old.holdId}`,
    );
    await database.db.execute(sql`UPDATE credit_account SET held = held - 500 WHERE user_id = ${old.userId}`);
    expect(await violationsOf(old.userId)).toEqual([
      {
        check: "debt_leaves_nothing_spendable",
        userId: old.userId,
        detail: "owes 500 credits while 500 are spendable",
      },
    ]);

    const now = await refundedWhileHeld();
    await releaseHold(database.db, { holdId: now.holdId });
    expect(await violationsOf(now.userId)).toEqual([]);
  });

  async function heldOnExpiringLot(start: Date) {
    const userId = await seedUser(database.db);
    const a = await addCredits(
      database.db,
      {
        userId,
        amount: 100,
        type: "grant",
        description: "short",
        idempotencyKey: "a",
        expiresAt: new Date(start.getTime() + HOUR),
      },
      start,
    );
    await addCredits(
      database.db,
      { userId, amount: 80, type: "grant", description: "long", idempotencyKey: "b" },
      start,
    );
    const hold = await createHold(
      database.db,
      { userId, amount: 60, description: "job", idempotencyKey: "h", ttlSeconds: 3 * 3600 },
      start,
    );
    if (!hold.ok) throw new Error("hold refused");
    return { userId, lotA: a.lotId, holdId: hold.holdId };
  }

  it("flags an entry written after a lot expired while its credits were not yet expired", async () => {
    const start = new Date("2033-01-01T00:00:00Z");
    const later = new Date(start.getTime() + 2 * HOUR);
    const old = await heldOnExpiringLot(start);
    // What capturing after the lot's expiry wrote before: a spend of the held credits of the expired lot,
    // with no expiry entry before it.
    await database.db.execute(sql`
      WITH entry AS (
        INSERT INTO credit_entry (user_id, type, amount, balance_after, description, reference, idempotency_key,
                                  request_hash, metadata, created_at)
        VALUES (${old.userId}, 'consume', -60, 120, 'job', ${old.holdId}, ${`hold-capture:${old.holdId}`}, 'old',
                '{}'::jsonb, ${later.toISOString()}::timestamptz)
        RETURNING id)
      INSERT INTO credit_allocation (entry_id, lot_id, amount) SELECT id, ${old.lotA}::uuid, 60 FROM entry`);
    await database.db.execute(
      sql`UPDATE credit_hold SET status = 'captured', captured_amount = 60, closed_at = ${later.toISOString()}::timestamptz
          WHERE id = ${old.holdId}`,
    );
    await database.db.execute(
      sql`UPDATE credit_account SET balance = 120, held = 0 WHERE user_id = ${old.userId}`,
    );
    const found = await violationsOf(old.userId);
    expect(found.map((v) => v.check)).toEqual(["no_entry_after_expiry"]);
    expect(found[0]?.detail).toContain(
      `lot ${old.lotA} expired, while 100 of its credits were not yet expired`,
    );

    const now = await heldOnExpiringLot(start);
    await captureHold(database.db, { holdId: now.holdId, amount: 60 }, later);
    expect(await violationsOf(now.userId)).toEqual([]);
  });
});

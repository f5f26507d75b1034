import { describe, expect, it } from "vitest";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { HoldNotOpenError, IdempotencyConflictError, InvalidInputError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { listTransactions } from "../../src/credits/list-transactions";
import { releaseExpiredHolds } from "../../src/credits/release-expired-holds";
import { releaseHold } from "../../src/credits/release-hold";
import { seedUserWithCredits } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

describe.each(databaseKinds())("holds on %s", (kind) => {
  const database = useTestDatabase(kind);

  const userWith = (credits: number) => seedUserWithCredits(database.db, credits);

  it("reserves credits so other spends cannot take them, and reports total, held and available", async () => {
    const userId = await userWith(100);
    const hold = await createHold(database.db, {
      userId,
      amount: 70,
      description: "render",
      idempotencyKey: "h1",
    });
    expect(hold).toMatchObject({ ok: true, amount: 70, available: 30 });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 100, held: 70, available: 30, debt: 0 });

    const tooMuch = await consumeCredits(database.db, {
      userId,
      amount: 31,
      description: "x",
      idempotencyKey: "c1",
    });
    expect(tooMuch).toEqual({ ok: false, reason: "insufficient_credits", available: 30 });
    const secondHold = await createHold(database.db, {
      userId,
      amount: 31,
      description: "x",
      idempotencyKey: "h2",
    });
    expect(secondHold).toEqual({ ok: false, reason: "insufficient_credits", available: 30 });
  });

  it("captures the actual cost, which may be less than reserved, and returns the rest", async () => {
    const userId = await userWith(100);
    const hold = await createHold(database.db, {
      userId,
      amount: 40,
      description: "render",
      idempotencyKey: "h",
    });
    if (!hold.ok) throw new Error("hold refused");
    const captured = await captureHold(database.db, { holdId: hold.holdId, amount: 25 });
    expect(captured).toMatchObject({ status: "captured", captured: 25, returned: 15, balance: 75 });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 75, held: 0, available: 75, debt: 0 });
    const history = await listTransactions(database.db, { userId });
    expect(history.items[0]).toMatchObject({
      type: "consume",
      amount: -25,
      balanceAfter: 75,
      description: "render",
    });

    // The same capture again answers the first result; any other settlement is refused.
    const again = await captureHold(database.db, { holdId: hold.holdId, amount: 25 });
    if (!captured.ok) throw new Error("capture refused");
    expect(again).toMatchObject({ replayed: true, captured: 25, entryId: captured.entryId });
    await expect(captureHold(database.db, { holdId: hold.holdId, amount: 30 })).rejects.toBeInstanceOf(
      HoldNotOpenError,
    );
    await expect(releaseHold(database.db, { holdId: hold.holdId })).rejects.toBeInstanceOf(HoldNotOpenError);
  });

  it("refuses to capture more than was reserved", async () => {
    const userId = await userWith(100);
    const hold = await createHold(database.db, { userId, amount: 10, description: "x", idempotencyKey: "h" });
    if (!hold.ok) throw new Error("hold refused");
    await expect(captureHold(database.db, { holdId: hold.holdId, amount: 11 })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect((await getBalance(database.db, userId)).held).toBe(10);
  });

  it("release returns every reserved credit and writes no ledger entry", async () => {
    const userId = await userWith(50);
    const hold = await createHold(database.db, { userId, amount: 50, description: "x", idempotencyKey: "h" });
    if (!hold.ok) throw new Error("hold refused");
    const released = await releaseHold(database.db, { holdId: hold.holdId });
    expect(released).toMatchObject({ status: "released", captured: 0, returned: 50, entryId: null });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 50, held: 0, available: 50, debt: 0 });
    expect((await listTransactions(database.db, { userId })).items).toHaveLength(1);
  });

  it("a hold past its time-to-live cannot be captured and is released by the sweep", async () => {
    const userId = await userWith(20);
    const start = new Date("2030-01-01T00:00:00Z");
    const hold = await createHold(
      database.db,
      { userId, amount: 20, description: "x", idempotencyKey: "h", ttlSeconds: 60 },
      start,
    );
    if (!hold.ok) throw new Error("hold refused");
    const later = new Date(start.getTime() + 61_000);
    const swept = await releaseExpiredHolds(database.db, later);
    expect(swept.released).toBeGreaterThanOrEqual(1);
    expect(await getBalance(database.db, userId, later)).toEqual({
      balance: 20,
      held: 0,
      available: 20,
      debt: 0,
    });
    await expect(captureHold(database.db, { holdId: hold.holdId }, later)).rejects.toBeInstanceOf(
      HoldNotOpenError,
    );
  });

  it("an idempotency key reserves once; the same key for another amount is a conflict", async () => {
    const userId = await userWith(100);
    const first = await createHold(database.db, {
      userId,
      amount: 30,
      description: "x",
      idempotencyKey: "same",
    });
    const again = await createHold(database.db, {
      userId,
      amount: 30,
      description: "x",
      idempotencyKey: "same",
    });
    if (!first.ok || !again.ok) throw new Error("hold refused");
    expect(again.holdId).toBe(first.holdId);
    expect(again.replayed).toBe(true);
    expect((await getBalance(database.db, userId)).held).toBe(30);
    await expect(
      createHold(database.db, { userId, amount: 31, description: "x", idempotencyKey: "same" }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
  });
});

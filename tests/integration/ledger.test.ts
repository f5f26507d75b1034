import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { IdempotencyConflictError, InvalidInputError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { listTransactions } from "../../src/credits/list-transactions";
import { creditAllocation, creditEntry, creditLot } from "../../src/db/schema";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const DAY = 86_400_000;

describe.each(databaseKinds())("ledger on %s", (kind) => {
  const database = useTestDatabase(kind);

  it("grants credits into a lot and records the grant in the ledger", async () => {
    const userId = await seedUser(database.db);
    const result = await addCredits(database.db, {
      userId,
      amount: 100,
      type: "purchase",
      description: "Purchased Basic",
      idempotencyKey: "grant-1",
    });
    expect(result).toMatchObject({ balance: 100, replayed: false });
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 100 });
    const lots = await database.db.select().from(creditLot).where(eq(creditLot.userId, userId));
    expect(lots).toHaveLength(1);
    expect(lots[0]).toMatchObject({ credits: 100, remaining: 100, category: "paid", expiresAt: null });
  });

  it("spends the soonest-expiring lot first and never-expiring lots last", async () => {
    const userId = await seedUser(database.db);
    const now = new Date("2026-01-01T00:00:00Z");
    const forever = await addCredits(
      database.db,
      { userId, amount: 50, type: "grant", description: "forever", idempotencyKey: "a" },
      now,
    );
    const late = await addCredits(
      database.db,
      { userId, amount: 30, type: "grant", description: "late", idempotencyKey: "b", expireDays: 30 },
      now,
    );
    const soon = await addCredits(
      database.db,
      { userId, amount: 20, type: "grant", description: "soon", idempotencyKey: "c", expireDays: 5 },
      now,
    );

    const spend = await consumeCredits(
      database.db,
      { userId, amount: 40, description: "work", idempotencyKey: "s1" },
      now,
    );
    expect(spend).toMatchObject({ ok: true, balance: 60 });
    if (!spend.ok) throw new Error("unreachable");
    const draws = await database.db
      .select()
      .from(creditAllocation)
      .where(eq(creditAllocation.entryId, spend.entryId));
    const byLot = Object.fromEntries(draws.map((d) => [d.lotId, d.amount]));
    expect(byLot).toEqual({ [soon.lotId]: 20, [late.lotId]: 20 });
    expect(byLot[forever.lotId]).toBeUndefined();
  });

  it("never lets an expired lot be spent, even before a sweep, and records its expiry once", async () => {
    const userId = await seedUser(database.db);
    const start = new Date("2026-01-01T00:00:00Z");
    await addCredits(
      database.db,
      { userId, amount: 10, type: "grant", description: "short", idempotencyKey: "e1", expireDays: 1 },
      start,
    );
    await addCredits(
      database.db,
      { userId, amount: 5, type: "grant", description: "long", idempotencyKey: "e2" },
      start,
    );
    const later = new Date(start.getTime() + 2 * DAY);
    expect(await getBalance(database.db, userId, later)).toMatchObject({ balance: 5 });

    const tooMuch = await consumeCredits(
      database.db,
      { userId, amount: 6, description: "x", idempotencyKey: "e3" },
      later,
    );
    expect(tooMuch).toEqual({ ok: false, reason: "insufficient_credits", available: 5 });
    const enough = await consumeCredits(
      database.db,
      { userId, amount: 5, description: "x", idempotencyKey: "e4" },
      later,
    );
    expect(enough).toMatchObject({ ok: true, balance: 0 });

    const entries = await database.db.select().from(creditEntry).where(eq(creditEntry.userId, userId));
    expect(entries.filter((e) => e.type === "expire").map((e) => e.amount)).toEqual([-10]);
  });

  it("refuses a spend larger than the balance and writes nothing", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const result = await consumeCredits(database.db, {
      userId,
      amount: 11,
      description: "x",
      idempotencyKey: "x",
    });
    expect(result).toEqual({ ok: false, reason: "insufficient_credits", available: 10 });
    const entries = await database.db.select().from(creditEntry).where(eq(creditEntry.userId, userId));
    expect(entries).toHaveLength(1);
  });

  it("answers a repeated key with the first result and refuses the same key with other parameters", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const first = await consumeCredits(database.db, {
      userId,
      amount: 30,
      description: "job",
      idempotencyKey: "k",
    });
    const again = await consumeCredits(database.db, {
      userId,
      amount: 30,
      description: "job",
      idempotencyKey: "k",
    });
    expect(again).toMatchObject({ ok: true, balance: 70, replayed: true });
    if (!first.ok || !again.ok) throw new Error("unreachable");
    expect(again.entryId).toBe(first.entryId);
    await expect(
      consumeCredits(database.db, { userId, amount: 31, description: "job", idempotencyKey: "k" }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    const regrant = await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    expect(regrant.replayed).toBe(true);
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 70 });
  });

  it("refuses a grant key reused for another grant, and an expiry already past, without spoiling the caller's transaction", async () => {
    const userId = await seedUser(database.db);
    const grant = { userId, amount: 10, type: "grant" as const, description: "g", idempotencyKey: "g" };
    await addCredits(database.db, grant);
    // One transaction of the caller's: each refusal is thrown to it, and it goes on to grant and commit
    // (a refusal raised as a database error would have aborted the transaction for every later statement).
    await database.db.transaction(async (tx) => {
      await expect(addCredits(tx, { ...grant, amount: 11 })).rejects.toBeInstanceOf(IdempotencyConflictError);
      await expect(
        addCredits(tx, { ...grant, idempotencyKey: "past", expiresAt: new Date(Date.now() - DAY) }),
      ).rejects.toMatchObject({ code: "invalid_input", message: "expiresAt must be in the future." });
      await addCredits(tx, { ...grant, amount: 5, idempotencyKey: "after" });
    });
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 15 });
    const entries = await database.db.select().from(creditEntry).where(eq(creditEntry.userId, userId));
    expect(entries.map((entry) => entry.idempotencyKey).sort()).toEqual(["after", "g"]);
    expect(await database.db.select().from(creditLot).where(eq(creditLot.userId, userId))).toHaveLength(2);
  });

  it("rejects zero, negative, fractional and unsafe amounts before touching the database", async () => {
    const userId = await seedUser(database.db);
    for (const amount of [0, -5, 1.5, Number.NaN, 2 ** 53]) {
      await expect(
        consumeCredits(database.db, { userId, amount, description: "x", idempotencyKey: `bad-${amount}` }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        addCredits(database.db, {
          userId,
          amount,
          type: "grant",
          description: "x",
          idempotencyKey: `bad-${amount}`,
        }),
      ).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 0 });
  });

  it("pages through the caller's history newest first", async () => {
    const userId = await seedUser(database.db);
    const other = await seedUser(database.db);
    await addCredits(database.db, {
      userId: other,
      amount: 5,
      type: "grant",
      description: "other",
      idempotencyKey: "o",
    });
    for (let i = 1; i <= 5; i++) {
      await addCredits(database.db, {
        userId,
        amount: i,
        type: "grant",
        description: `g${i}`,
        idempotencyKey: `h${i}`,
      });
    }
    const first = await listTransactions(database.db, { userId, limit: 2 });
    expect(first.items.map((i) => i.description)).toEqual(["g5", "g4"]);
    const second = await listTransactions(database.db, {
      userId,
      limit: 2,
      cursor: first.nextCursor ?? undefined,
    });
    expect(second.items.map((i) => i.description)).toEqual(["g3", "g2"]);
    const third = await listTransactions(database.db, {
      userId,
      limit: 2,
      cursor: second.nextCursor ?? undefined,
    });
    expect(third.items.map((i) => i.description)).toEqual(["g1"]);
    expect(third.nextCursor).toBeNull();
  });
  it("answers each of many simultaneous spends of one user on its own, in one consistent ledger", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const outcomes = await Promise.allSettled([
      consumeCredits(database.db, { userId, amount: 4, description: "a", idempotencyKey: "a" }),
      consumeCredits(database.db, { userId, amount: 4, description: "b", idempotencyKey: "b" }),
      consumeCredits(database.db, { userId, amount: 4, description: "c", idempotencyKey: "c" }),
      consumeCredits(database.db, { userId, amount: 5, description: "a", idempotencyKey: "a" }),
      consumeCredits(database.db, { userId, amount: 4, description: "b", idempotencyKey: "b" }),
      consumeCredits(database.db, {
        userId,
        amount: 2,
        description: 'd "quoted" {braces}, commas',
        idempotencyKey: "d",
      }),
    ]);
    const [a, b, c, aAgain, bAgain, d] = outcomes;
    expect(a).toMatchObject({ status: "fulfilled", value: { ok: true, balance: 6 } });
    expect(b).toMatchObject({ status: "fulfilled", value: { ok: true, balance: 2 } });
    expect(c).toMatchObject({
      status: "fulfilled",
      value: { ok: false, reason: "insufficient_credits", available: 2 },
    });
    expect(aAgain).toMatchObject({ status: "rejected", reason: expect.any(IdempotencyConflictError) });
    expect(bAgain).toMatchObject({ status: "fulfilled", value: { ok: true, balance: 2, replayed: true } });
    expect(d).toMatchObject({ status: "fulfilled", value: { ok: true, balance: 0 } });
    const history = await listTransactions(database.db, { userId });
    expect(history.items.map((item) => item.description)).toEqual([
      'd "quoted" {braces}, commas',
      "b",
      "a",
      "g",
    ]);
  });
});

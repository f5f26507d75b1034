import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { InvalidInputError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { listExpiringCredits } from "../../src/credits/list-expiring-credits";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot } from "../../src/db/schema";
import { runSweep } from "../../src/jobs/run-sweep";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import { testDatabaseUrl } from "../support/paths";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { useTestDatabase } from "../support/test-database";

const DAY = 86_400_000;
const YEAR = 365 * DAY;

const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

/**
 * Expiry and hold time-to-live follow the database's clock, whatever the app server's clock says: two
 * instances whose clocks disagree must agree on what has expired. Only `Date` is faked, so the database
 * connection's own timers run normally. PostgreSQL only: PGlite runs inside the app's process and reads the
 * same clock (a faked `Date` moves its now() too), so there is no second clock to disagree with.
 */
describe.skipIf(!testDatabaseUrl())("expiry and hold TTLs follow the database clock on postgres", () => {
  const database = useTestDatabase("postgres");

  let key: string;
  beforeAll(async () => {
    useDatabaseConnection(database);
    key = (await createApiKey(database.db, "billing", { userId: null, label: "tests" })).key;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function databaseNow(): Promise<number> {
    const result = (await database.db.execute(sql`SELECT now() AS now`)) as unknown as {
      rows: { now: string | Date }[];
    };
    return new Date(result.rows[0]?.now ?? 0).getTime();
  }

  function skewAppClock(by: number) {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date(Date.now() + by));
  }

  it("an app clock a year ahead expires nothing the database still considers alive", async () => {
    const userId = await seedUser(database.db);
    const tomorrow = new Date((await databaseNow()) + DAY);
    await addCredits(database.db, {
      userId,
      amount: 30,
      type: "grant",
      description: "short",
      idempotencyKey: "a",
      expiresAt: tomorrow,
    });
    skewAppClock(YEAR);

    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 30, available: 30 });
    expect((await listExpiringCredits(database.db, userId, 30)).total).toBe(30);
    await runSweep(database.db);
    expect(
      await consumeCredits(database.db, { userId, amount: 10, description: "x", idempotencyKey: "s" }),
    ).toMatchObject({ ok: true, balance: 20 });
    // A grant's expiry in days counts from the database's clock too.
    const grant = await addCredits(database.db, {
      userId,
      amount: 5,
      type: "grant",
      description: "month",
      idempotencyKey: "m",
      expireDays: 30,
    });
    vi.useRealTimers();
    const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.id, grant.lotId));
    const expected = (await databaseNow()) + 30 * DAY;
    expect(Math.abs((lot?.expiresAt?.getTime() ?? 0) - expected)).toBeLessThan(60_000);
  });

  it("an app clock a year behind never spends or reports credits the database has expired", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 5,
      type: "grant",
      description: "kept",
      idempotencyKey: "b",
    });
    // Granted last and then made a minute past its expiry, so no mutation has written its expiry yet: each
    // decision below is made by a clock.
    const gone = await addCredits(database.db, {
      userId,
      amount: 40,
      type: "grant",
      description: "gone",
      idempotencyKey: "a",
      expiresAt: new Date((await databaseNow()) + DAY),
    });
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = now() - interval '1 minute' WHERE id = ${gone.lotId}`,
    );
    skewAppClock(-YEAR);

    expect(await getBalance(database.db, userId)).toEqual({ balance: 5, held: 0, available: 5, debt: 0 });
    expect(
      await consumeCredits(database.db, { userId, amount: 20, description: "x", idempotencyKey: "s" }),
    ).toEqual({ ok: false, reason: "insufficient_credits", available: 5 });
    const hold = await createHold(database.db, { userId, amount: 20, description: "h", idempotencyKey: "h" });
    expect(hold).toEqual({ ok: false, reason: "insufficient_credits", available: 5 });
    expect((await listExpiringCredits(database.db, userId, 30)).total).toBe(0);
    // A grant whose expiry is in the future only by the lagging app clock is refused.
    await expect(
      addCredits(database.db, {
        userId,
        amount: 5,
        type: "grant",
        description: "late",
        idempotencyKey: "late",
        expiresAt: new Date(Date.now() + DAY),
      }),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("the service API accepts a grant expiring tomorrow by the database's clock, whatever the app's clock says", async () => {
    const userId = await seedUser(database.db);
    const tomorrow = new Date((await databaseNow()) + DAY).toISOString();
    skewAppClock(YEAR);
    const ahead = await v1.grant(userId, { key, json: { amount: 5, expiresAt: tomorrow } });
    expect(ahead.status).toBe(201);
    vi.useRealTimers();
    const yesterday = new Date((await databaseNow()) - DAY).toISOString();
    skewAppClock(-YEAR);
    const behind = await v1.grant(userId, { key, json: { amount: 5, expiresAt: yesterday } });
    expect([behind.status, behind.body.error?.code]).toEqual([400, "invalid_input"]);
    expect((await v1.balance(userId, { key })).body).toMatchObject({ balance: 5 });
  });

  it("a hold's time-to-live is counted and judged by the database's clock", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });

    // Made by an instance whose clock is a year behind, captured by one with the right time.
    skewAppClock(-YEAR);
    const lagging = await createHold(database.db, {
      userId,
      amount: 10,
      description: "h",
      idempotencyKey: "lagging",
      ttlSeconds: 600,
    });
    vi.useRealTimers();
    if (!lagging.ok) throw new Error("hold refused");
    const now = await databaseNow();
    expect(lagging.expiresAt.getTime()).toBeGreaterThan(now + 500_000);
    expect(await captureHold(database.db, { holdId: lagging.holdId, amount: 10 })).toMatchObject({
      status: "captured",
    });
    await runSweep(database.db);

    // Past its time-to-live by the database's clock: an instance whose clock is an hour behind cannot capture it.
    const short = await createHold(database.db, {
      userId,
      amount: 10,
      description: "h",
      idempotencyKey: "short",
      ttlSeconds: 1,
    });
    if (!short.ok) throw new Error("hold refused");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    skewAppClock(-3_600_000);
    await expect(captureHold(database.db, { holdId: short.holdId, amount: 10 })).rejects.toMatchObject({
      code: "hold_not_open",
    });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 90, held: 0, available: 90, debt: 0 });
  });
});

import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import {
  type CreditUsage,
  FORECAST_HORIZON_DAYS,
  FORECAST_WINDOW_DAYS,
  getCreditUsage,
  type UsageRange,
} from "../../src/credits/get-credit-usage";
import { internalKey } from "../../src/credits/idempotency-keys";
import { sweepExpiredLots } from "../../src/credits/sweep-expired-lots";
import { databaseTimeZone, LINKED_ZONE_NAMES } from "../../src/credits/time-zone-name";
import { useDatabaseConnection } from "../../src/db/client";
import type { Database } from "../../src/db/types";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { usageGet } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** "Now" for every read below: the database's clock is replaced by this instant. */
const NOW = new Date("2026-03-20T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const ahead = (ms: number) => new Date(NOW.getTime() + ms);

/** The oracle for the reader's day: JavaScript's own time zone data, independent of the database's. */
function localDate(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}
const plusDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
const daysBetween = (from: string, to: string) =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY);

type Spend = { at: Date; amount: number; feature?: string };
type Event = { at: Date; delta: number; kind: "grant" | "spend" | "expire" };

describe.each(databaseKinds())("credit usage analytics (%s)", (kind) => {
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    db = database.db;
    useDatabaseConnection(database);
    resetAuth();
  });
  afterAll(async () => {
    await database?.close();
  });

  const grant = (userId: string, amount: number, at: Date, expiresAt?: Date) =>
    addCredits(
      db,
      {
        userId,
        amount,
        type: "grant",
        description: "Grant",
        idempotencyKey: `grant-${randomUUID()}`,
        ...(expiresAt ? { expiresAt } : {}),
      },
      at,
    );
  const spend = async (userId: string, { at, amount, feature }: Spend) => {
    const result = await consumeCredits(
      db,
      {
        userId,
        amount,
        description: "Spend",
        idempotencyKey: `spend-${randomUUID()}`,
        ...(feature ? { metadata: { feature } } : {}),
      },
      at,
    );
    expect(result.ok).toBe(true);
  };
  const usage = (userId: string, rangeDays: UsageRange, timeZone = "UTC", now = NOW) =>
    getCreditUsage(db, { userId, rangeDays, timeZone }, now);
  const dayOf = (result: CreditUsage, date: string) => {
    const day = result.days.find((d) => d.date === date);
    if (!day) throw new Error(`${date} is not in the range ${result.from}..${result.to}`);
    return day;
  };
  /** Each day's spend per feature (null: no feature) as the usage answer has it. */
  const spendsByDay = (result: CreditUsage) =>
    Object.fromEntries(
      result.days
        .filter((day) => day.spent > 0)
        .map((day) => [
          day.date,
          Object.fromEntries(
            result.features
              .map((series, i) => [series.feature ?? "(none)", day.spentByFeature[i] ?? 0] as const)
              .filter(([, credits]) => credits > 0),
          ),
        ]),
    );
  /** The same, computed from what was seeded. */
  const expectedSpendsByDay = (spends: Spend[], timeZone: string, from: string, to: string) => {
    const days: Record<string, Record<string, number>> = {};
    for (const { at, amount, feature } of spends) {
      const date = localDate(at, timeZone);
      if (date < from || date > to) continue;
      const byFeature = days[date] ?? {};
      byFeature[feature ?? "(none)"] = (byFeature[feature ?? "(none)"] ?? 0) + amount;
      days[date] = byFeature;
    }
    return days;
  };

  it("sums each day's spends by feature (metadata or the metered feature's hold), the user's own only", async () => {
    const userId = await seedUser(db);
    const stranger = await seedUser(db);
    await grant(userId, 1000, ago(40 * DAY));
    await grant(stranger, 1000, ago(40 * DAY));
    const spends: Spend[] = [
      { at: ago(45 * DAY), amount: 1, feature: "image.generate" }, // before every range but 90 days
      { at: ago(3 * DAY), amount: 5, feature: "image.generate" },
      { at: ago(3 * DAY - HOUR), amount: 3, feature: "report.export" },
      { at: ago(2 * DAY), amount: 7, feature: "image.generate" },
      { at: ago(DAY), amount: 2 },
    ].sort((a, b) => a.at.getTime() - b.at.getTime());
    for (const s of spends) await spend(userId, s);
    // A metered feature's capture: its feature is the one its hold was made for.
    const holdAt = ago(HOUR);
    const hold = await createHold(
      db,
      {
        userId,
        amount: 6,
        description: "Image",
        idempotencyKey: internalKey("feature", "image.generate", "req-1"),
      },
      holdAt,
    );
    if (!hold.ok) throw new Error("hold refused");
    const captured = await captureHold(db, { holdId: hold.holdId, amount: 4 }, holdAt);
    expect(captured.ok).toBe(true);
    spends.push({ at: holdAt, amount: 4, feature: "image.generate" });
    // The stranger spends on the same days: none of it may show in the user's view.
    await spend(stranger, { at: ago(2 * DAY), amount: 50, feature: "report.export" });

    for (const range of [7, 30, 90] as const) {
      const result = await usage(userId, range);
      expect(result.to).toBe(localDate(NOW, "UTC"));
      expect(result.from).toBe(plusDays(result.to, -(range - 1)));
      expect(result.days.map((d) => d.date)).toEqual(
        Array.from({ length: range }, (_, i) => plusDays(result.from, i)),
      );
      expect(spendsByDay(result)).toEqual(expectedSpendsByDay(spends, "UTC", result.from, result.to));
      const inRange = spends.filter((s) => localDate(s.at, "UTC") >= result.from);
      expect(result.totals.spent).toBe(inRange.reduce((sum, s) => sum + s.amount, 0));
      // Series largest first, each with its total.
      const totals = result.features.map((series) => series.spent);
      expect(totals).toEqual([...totals].sort((a, b) => b - a));
      for (const series of result.features)
        expect(series.spent).toBe(
          inRange.filter((s) => (s.feature ?? null) === series.feature).reduce((sum, s) => sum + s.amount, 0),
        );
    }
  });

  it("buckets days by the reader's time zone: a spend after Shanghai's midnight is on Shanghai's next day", async () => {
    const userId = await seedUser(db);
    await grant(userId, 100, ago(10 * DAY));
    // 15:30Z is 23:30 in Shanghai (UTC+8); 16:30Z is 00:30 the next day there. Both the same day in UTC
    // and in Los Angeles.
    const evening = { at: new Date("2026-03-18T15:30:00Z"), amount: 3, feature: "image.generate" };
    const afterMidnight = { at: new Date("2026-03-18T16:30:00Z"), amount: 8, feature: "image.generate" };
    await spend(userId, evening);
    await spend(userId, afterMidnight);

    for (const timeZone of ["UTC", "Asia/Shanghai", "America/Los_Angeles"]) {
      const result = await usage(userId, 7, timeZone);
      expect(spendsByDay(result)).toEqual(
        expectedSpendsByDay([evening, afterMidnight], timeZone, result.from, result.to),
      );
    }
    const shanghai = await usage(userId, 7, "Asia/Shanghai");
    expect(dayOf(shanghai, "2026-03-18").spent).toBe(evening.amount);
    expect(dayOf(shanghai, "2026-03-19").spent).toBe(afterMidnight.amount);
    const utc = await usage(userId, 7, "UTC");
    expect(dayOf(utc, "2026-03-18").spent).toBe(evening.amount + afterMidnight.amount);

    // "Today" is the reader's: at 20:00Z it is already tomorrow in Shanghai, still today in UTC.
    const late = new Date("2026-03-20T20:00:00Z");
    expect((await usage(userId, 7, "Asia/Shanghai", late)).to).toBe(localDate(late, "Asia/Shanghai"));
    expect((await usage(userId, 7, "UTC", late)).to).toBe(localDate(late, "UTC"));
    expect(localDate(late, "Asia/Shanghai")).not.toBe(localDate(late, "UTC"));
  });

  it("reads every legacy zone name without a region part (CET, EET, MET, WET…) as the runtime does, summer and winter", async () => {
    // PostgreSQL reads CET, EET, MET, WET (and EST, MST, HST, GMT, UTC…) first as abbreviations: fixed
    // offsets. What reaches SQL is the region zone, so its wall clock is the runtime's all year.
    const instants = [new Date("2026-07-01T22:30:00Z"), new Date("2026-01-15T22:30:00Z")];
    const wallClock = (at: Date, timeZone: string) =>
      new Intl.DateTimeFormat("sv-SE", {
        timeZone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(at);
    for (const name of [...LINKED_ZONE_NAMES, "CET", "Europe/Brussels"])
      for (const at of instants) {
        const [row] = (
          (await db.execute(
            sql`SELECT to_char(${at.toISOString()}::timestamptz AT TIME ZONE ${databaseTimeZone(name)}, 'YYYY-MM-DD HH24:MI') AS local`,
          )) as unknown as { rows: { local: string }[] }
        ).rows;
        expect({ name, at, local: row?.local }).toEqual({ name, at, local: wallClock(at, name) });
      }
    const userId = await seedUser(db);
    await grant(userId, 100, ago(10 * DAY));
    // 22:30Z on 19 March is 23:30 in CET (winter); in WET it is 22:30, in EET already 00:30 on the 20th.
    const spent = { at: new Date("2026-03-19T22:30:00Z"), amount: 4 };
    await spend(userId, spent);
    for (const timeZone of ["CET", "EET", "MET", "WET"]) {
      const result = await usage(userId, 7, timeZone);
      expect(spendsByDay(result)).toEqual(expectedSpendsByDay([spent], timeZone, result.from, result.to));
    }
  });

  it("gives the balance at the end of each day, with the day's grants and expired credits", async () => {
    const userId = await seedUser(db);
    const events: Event[] = [];
    await grant(userId, 100, ago(50 * DAY));
    events.push({ at: ago(50 * DAY), delta: 100, kind: "grant" });
    const expiresAt = ago(10 * DAY);
    await grant(userId, 50, ago(20 * DAY), expiresAt);
    events.push({ at: ago(20 * DAY), delta: 50, kind: "grant" });
    // Spends draw the expiring lot first: 20 of its 50 are spent, 30 expire.
    await spend(userId, { at: ago(15 * DAY), amount: 20 });
    events.push({ at: ago(15 * DAY), delta: -20, kind: "spend" });
    const sweptAt = new Date(expiresAt.getTime() + HOUR);
    await sweepExpiredLots(db, sweptAt);
    events.push({ at: sweptAt, delta: -(50 - 20), kind: "expire" });
    await grant(userId, 40, ago(5 * DAY));
    events.push({ at: ago(5 * DAY), delta: 40, kind: "grant" });
    await spend(userId, { at: ago(2 * DAY), amount: 10 });
    events.push({ at: ago(2 * DAY), delta: -10, kind: "spend" });

    for (const timeZone of ["UTC", "Asia/Shanghai"]) {
      for (const range of [7, 30, 90] as const) {
        const result = await usage(userId, range, timeZone);
        for (const day of result.days) {
          const upTo = events.filter((e) => localDate(e.at, timeZone) <= day.date);
          const on = events.filter((e) => localDate(e.at, timeZone) === day.date);
          const sum = (list: Event[]) => list.reduce((total, e) => total + e.delta, 0);
          expect({ date: day.date, balance: day.balance }).toEqual({ date: day.date, balance: sum(upTo) });
          expect(day.granted).toBe(sum(on.filter((e) => e.kind === "grant")));
          expect(day.expired).toBe(on.filter((e) => e.kind === "expire").reduce((t, e) => t - e.delta, 0));
        }
        const inRange = events.filter((e) => localDate(e.at, timeZone) >= result.from);
        expect(result.totals.expired).toBe(
          inRange.filter((e) => e.kind === "expire").reduce((total, e) => total - e.delta, 0),
        );
      }
    }
    // The expiry is in the 30-day view, on the day it was written.
    const month = await usage(userId, 30);
    expect(dayOf(month, localDate(sweptAt, "UTC")).expired).toBe(50 - 20);
  });

  it("lists what expires in each of the next four weeks of the reader's days", async () => {
    const userId = await seedUser(db);
    const lots = [
      { credits: 10, expiresAt: ahead(2 * DAY) },
      { credits: 20, expiresAt: ahead(9 * DAY) },
      { credits: 30, expiresAt: ahead(26 * DAY) },
      { credits: 40, expiresAt: ahead(40 * DAY) }, // past the four weeks
      { credits: 50, expiresAt: undefined }, // never expires
    ];
    for (const lot of lots) await grant(userId, lot.credits, ago(DAY), lot.expiresAt);
    // Drawn from the soonest-expiring lot: 4 of its 10 credits are gone and will not expire.
    await spend(userId, { at: ago(HOUR), amount: 4 });
    const remaining = [10 - 4, 20, 30, 40, 50];

    for (const timeZone of ["UTC", "Asia/Shanghai"]) {
      const result = await usage(userId, 30, timeZone);
      const today = localDate(NOW, timeZone);
      const expected = [0, 0, 0, 0];
      lots.forEach((lot, i) => {
        if (!lot.expiresAt) return;
        const week = Math.floor(daysBetween(today, localDate(lot.expiresAt, timeZone)) / 7);
        if (week < expected.length) expected[week] = (expected[week] ?? 0) + (remaining[i] ?? 0);
      });
      expect(result.expiring.map((w) => w.credits)).toEqual(expected);
      expect(result.expiring.map((w) => [w.start, w.end])).toEqual(
        [0, 1, 2, 3].map((w) => [plusDays(today, w * 7), plusDays(today, w * 7 + 6)]),
      );
    }
  });

  it("forecasts the day the credits run out at the last 14 days' pace, in whole days", async () => {
    const userId = await seedUser(db);
    const granted = 1000;
    await grant(userId, granted, ago(30 * DAY));
    const outside = { at: ago(20 * DAY), amount: 500 };
    const inside = [
      { at: ago(13 * DAY), amount: 30 },
      { at: ago(2 * DAY), amount: 40 },
    ];
    for (const s of [outside, ...inside]) await spend(userId, s);
    const spent = inside.reduce((sum, s) => sum + s.amount, 0);
    const available = granted - outside.amount - spent;

    for (const timeZone of ["UTC", "Asia/Shanghai"]) {
      const { forecast } = await usage(userId, 7, timeZone);
      expect(forecast.spentInWindow).toBe(spent);
      expect(forecast.available).toBe(available);
      expect(forecast.daysLeft).toBe(Math.floor((available * FORECAST_WINDOW_DAYS) / spent));
      const secondsLeft = Math.floor((available * FORECAST_WINDOW_DAYS * 86_400) / spent);
      expect(forecast.runsOutOn).toBe(localDate(new Date(NOW.getTime() + secondsLeft * 1000), timeZone));
      expect(forecast.beyondHorizon).toBe(false);
      expect(forecast.expiresUnused).toBe(0);
    }
  });

  it("counts expiry in the forecast: credits that expire before the pace reaches them do not last", async () => {
    const userId = await seedUser(db);
    const expiring = { credits: 100, inDays: 2 };
    const lasting = 28;
    await grant(userId, expiring.credits, ago(20 * DAY), ahead(expiring.inDays * DAY));
    await grant(userId, lasting, ago(20 * DAY));
    const spent = FORECAST_WINDOW_DAYS; // one credit a day
    await spend(userId, { at: ago(DAY), amount: spent });
    const perDay = spent / FORECAST_WINDOW_DAYS;
    // The spend came out of the expiring lot; of the rest, the pace spends `perDay` a day until it expires.
    const usedBeforeExpiry = perDay * expiring.inDays;
    const leftInExpiring = expiring.credits - spent;

    const { forecast } = await usage(userId, 30);
    expect(forecast.available).toBe(leftInExpiring + lasting);
    expect(forecast.expiresUnused).toBe(leftInExpiring - usedBeforeExpiry);
    expect(forecast.daysLeft).toBe((usedBeforeExpiry + lasting) / perDay);
    // Ignoring expiry would have promised far more days.
    expect(forecast.daysLeft).toBeLessThan(((leftInExpiring + lasting) * FORECAST_WINDOW_DAYS) / spent);
  });

  it("has no run-out date without spending in the last 14 days, and none past the horizon", async () => {
    const idle = await seedUser(db);
    await grant(idle, 100, ago(30 * DAY));
    await spend(idle, { at: ago((FORECAST_WINDOW_DAYS + 1) * DAY), amount: 10 });
    const idleForecast = (await usage(idle, 30)).forecast;
    expect(idleForecast).toMatchObject({ spentInWindow: 0, available: 90, daysLeft: null, runsOutOn: null });

    const rich = await seedUser(db);
    await grant(rich, 1_000_000_000, ago(DAY));
    await spend(rich, { at: ago(HOUR), amount: 1 });
    const richForecast = (await usage(rich, 30)).forecast;
    // At one credit in 14 days, what is left lasts far past the horizon.
    expect(richForecast.available * FORECAST_WINDOW_DAYS).toBeGreaterThan(FORECAST_HORIZON_DAYS);
    expect(richForecast.beyondHorizon).toBe(true);
    expect(richForecast.daysLeft).toBeNull();

    const empty = await usage(await seedUser(db), 7);
    expect(empty.days.every((d) => d.spent === 0 && d.balance === 0)).toBe(true);
    expect(empty.features).toEqual([]);
    expect(empty.forecast.daysLeft).toBeNull();
  });

  it("refuses a range other than 7, 30 or 90 and a time zone that is not an IANA name", async () => {
    const userId = await seedUser(db);
    for (const rangeDays of [0, 14, 365])
      await expect(
        getCreditUsage(db, { userId, rangeDays: rangeDays as UsageRange }, NOW),
      ).rejects.toMatchObject({ code: "invalid_input" });
    // CEST is an abbreviation (PostgreSQL: a fixed UTC+2), not a zone name.
    for (const timeZone of [
      "Mars/Olympus",
      "XYZ+3",
      "+08:00",
      "",
      "CEST",
      "UTC'; DROP TABLE credit_entry; --",
    ])
      await expect(getCreditUsage(db, { userId, timeZone }, NOW)).rejects.toMatchObject({
        code: "invalid_input",
      });
  });

  it("reads the range through the (user_id, created_at, id) index, never the user's whole history", async () => {
    const userId = await seedUser(db);
    await grant(userId, 10_000, ago(400 * DAY));
    // A long history before the range, so reading the whole history would be the costly plan.
    await db.execute(sql`
      INSERT INTO credit_entry (user_id, type, amount, balance_after, description, idempotency_key, request_hash,
                                created_at)
      SELECT ${userId}, 'adjustment', 1, 10000, 'History', 'history-' || g, 'h',
             ${ago(399 * DAY).toISOString()}::timestamptz + g * interval '1 hour'
      FROM generate_series(1, 5000) g`);
    await db.execute(sql`ANALYZE credit_entry`);
    const plans: string[] = [];
    await db.transaction(async (tx) => {
      // Sequential scans off, so the plan shows which index serves the read, whatever the table's size.
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      const explaining = new Proxy(tx, {
        get(target, property, receiver) {
          if (property !== "execute") return Reflect.get(target, property, receiver);
          return async (query: SQL) => {
            const plan = (await target.execute(sql`EXPLAIN ${query}`)) as unknown as {
              rows: Record<string, string>[];
            };
            plans.push(plan.rows.map((row) => Object.values(row).join("")).join("\n"));
            return target.execute(query);
          };
        },
      });
      await getCreditUsage(explaining as unknown as Database, { userId, rangeDays: 30 }, NOW);
    });
    const plan = plans.join("\n");
    expect(plan).toContain("credit_entry_user_created_idx");
    expect(plan).not.toContain("credit_entry_user_history_idx");
    expect(plan).not.toMatch(/Seq Scan on credit_entry/);
  });

  describe("GET /api/credits/usage", () => {
    const get = (query: string, cookie?: string) =>
      usageGet(appRequest(`/api/credits/usage${query}`, cookie ? { cookie } : {}), routeContext({}));

    it("answers 401 without a session", async () => {
      const response = await get("?range=30");
      expect(response.status).toBe(401);
    });

    it("answers the signed-in user's usage, and 400 for bad input", async () => {
      const owner = await signUp(`usage-${randomUUID()}@example.test`);
      await addCredits(db, {
        userId: owner.id,
        amount: 25,
        type: "grant",
        description: "Grant",
        idempotencyKey: "g",
      });
      await consumeCredits(db, {
        userId: owner.id,
        amount: 5,
        description: "Spend",
        idempotencyKey: "s",
        metadata: { feature: "image.generate" },
      });

      const { status, body } = await readJson<CreditUsage>(
        await get("?range=7&timeZone=Asia%2FShanghai", owner.cookie),
      );
      expect(status).toBe(200);
      expect(body).toMatchObject({ rangeDays: 7, timeZone: "Asia/Shanghai" });
      expect(body.days).toHaveLength(7);
      expect(body.features).toEqual([{ feature: "image.generate", spent: 5 }]);
      expect(body.days.at(-1)?.balance).toBe(20);

      const defaults = await readJson<CreditUsage>(await get("", owner.cookie));
      expect(defaults.body).toMatchObject({ rangeDays: 30, timeZone: "UTC" });

      for (const query of [
        "?range=14",
        "?range=3e1",
        "?range=",
        "?timeZone=Mars%2FOlympus",
        "?timeZone=XYZ%2B3",
        "?range=30&userId=someone-else",
      ]) {
        const bad = await readJson<{ error: { code: string } }>(await get(query, owner.cookie));
        expect({ query, status: bad.status, code: bad.body.error.code }).toEqual({
          query,
          status: 400,
          code: "invalid_input",
        });
      }
    });
  });
});

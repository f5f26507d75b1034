import { sql } from "drizzle-orm";
import { z } from "zod";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { InvalidInputError } from "./errors";
import { entryFeature } from "./history-filter";
import { parseInput } from "./parse-input";
import { type CreditUsage, USAGE_RANGES, type UsageDay, type UsageForecast, userIdSchema } from "./schemas";

export {
  type CreditUsage,
  USAGE_RANGES,
  type UsageDay,
  type UsageForecast,
  type UsageRange,
} from "./schemas";

import { firstRow, sqlStateOf } from "./sql-rows";
import { databaseTimeZone, timeZoneSchema } from "./time-zone-name";

export { timeZoneSchema } from "./time-zone-name";

/** The forecast's window: the pace is what was spent in the last 14 × 24 hours. */
export const FORECAST_WINDOW_DAYS = 14;
/** How far ahead the expiry chart looks: four weeks of the reader's days, starting today. */
export const EXPIRING_WEEKS = 4;
/** At most this many series in the spend chart; smaller features share one `null` ("other") series. */
export const MAX_FEATURE_SERIES = 6;
/** A forecast past ten years says "beyond the horizon" instead of a date nobody can act on. */
export const FORECAST_HORIZON_DAYS = 3650;

const SECONDS_PER_DAY = 86_400n;
const WINDOW_SECONDS = BigInt(FORECAST_WINDOW_DAYS) * SECONDS_PER_DAY;

export const creditUsageInputSchema = z
  .object({
    userId: userIdSchema,
    /** Days ending today: 7, 30 or 90. */
    rangeDays: z.literal(USAGE_RANGES).default(30),
    /** The reader's IANA time zone: days start at its midnight. */
    timeZone: timeZoneSchema.default("UTC"),
  })
  .strict();
export type CreditUsageInput = z.input<typeof creditUsageInputSchema>;

type UsageRow = {
  today: string;
  first_day: string;
  now_epoch: string | number;
  opening: string | number | null;
  spent_in_window: string | number;
  spends: { day: string; feature: string | null; credits: number }[] | string;
  flows: { day: string; granted: number; expired: number; balance: number }[] | string;
  expiring: { week: number; credits: number }[] | string;
  lots: { remaining: number; expires_in: number | null }[] | string;
};

/** json_agg answers are parsed by node-postgres and PGlite alike; a string answer is parsed here. */
function jsonValue<T>(value: T | string): T {
  return typeof value === "string" ? (JSON.parse(value) as T) : value;
}

/**
 * A user's credit usage for the usage view: spends per day by feature, the balance at the end of each day,
 * what was granted and what expired, what expires in the coming weeks, and a forecast of when the credits
 * run out at the last 14 days' pace. Days are the reader's calendar days in `timeZone` (IANA name, default
 * UTC), so an evening spend in Shanghai counts on Shanghai's date; `rangeDays` (7, 30 or 90) days end today.
 * All amounts are credits (integers); the forecast is computed in integers (BigInt), never in floats.
 *
 * One statement, so every part comes from the same snapshot. It reads the user's entries inside the range
 * and the single newest entry before it (the opening balance) through the (user_id, created_at, id) index,
 * and the user's spendable lots through their partial index: its cost grows with the range's entries, not
 * with the history. `now` is for tests only (the database's clock otherwise). Throws InvalidInputError for
 * a bad range, user id or time zone (including a name PostgreSQL's time zone database does not know).
 */
export async function getCreditUsage(
  db: DatabaseOrTransaction,
  rawInput: CreditUsageInput,
  now?: Date,
): Promise<CreditUsage> {
  const input = parseInput(creditUsageInputSchema, rawInput);
  const { userId, rangeDays, timeZone } = input;
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
  // The zone PostgreSQL reads as the runtime does (CET as Europe/Brussels, not as the fixed abbreviation).
  const tz = sql`${databaseTimeZone(timeZone)}::text`;
  let row: UsageRow;
  try {
    row = firstRow<UsageRow>(
      await db.execute(sql`
        WITH clock AS (
          SELECT ${at} AS at, (${at} AT TIME ZONE ${tz})::date AS today
        ), bounds AS (
          SELECT at, today, today - ${rangeDays - 1}::integer AS first_day,
                 ((today - ${rangeDays - 1}::integer)::timestamp AT TIME ZONE ${tz}) AS start_at,
                 ((today + 1)::timestamp AT TIME ZONE ${tz}) AS end_at,
                 ((today + ${EXPIRING_WEEKS * 7}::integer)::timestamp AT TIME ZONE ${tz}) AS expiring_end
          FROM clock
        ), ranged AS (
          SELECT (credit_entry.created_at AT TIME ZONE ${tz})::date AS day, credit_entry.type,
                 credit_entry.amount, credit_entry.balance_after, credit_entry.created_at, credit_entry.id,
                 CASE WHEN credit_entry.type = 'consume' THEN ${entryFeature} END AS feature
          FROM credit_entry, bounds
          WHERE credit_entry.user_id = ${userId}
            AND credit_entry.created_at >= bounds.start_at AND credit_entry.created_at < bounds.end_at
        )
        SELECT bounds.today::text AS today, bounds.first_day::text AS first_day,
          floor(extract(epoch FROM bounds.at))::bigint AS now_epoch,
          (SELECT e.balance_after FROM credit_entry e
            WHERE e.user_id = ${userId} AND e.created_at < bounds.start_at
            ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS opening,
          (SELECT coalesce(sum(-e.amount), 0) FROM credit_entry e
            WHERE e.user_id = ${userId} AND e.type = 'consume'
              AND e.created_at > bounds.at - ${FORECAST_WINDOW_DAYS}::integer * interval '24 hours'
              AND e.created_at <= bounds.at) AS spent_in_window,
          (SELECT coalesce(json_agg(s), '[]') FROM (
             SELECT day::text AS day, feature, sum(-amount) AS credits FROM ranged
             WHERE type = 'consume' GROUP BY day, feature) s) AS spends,
          (SELECT coalesce(json_agg(f), '[]') FROM (
             SELECT totals.day::text AS day, totals.granted, totals.expired, last.balance_after AS balance
             FROM (SELECT day, coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS granted,
                          coalesce(sum(-amount) FILTER (WHERE type = 'expire'), 0) AS expired
                   FROM ranged GROUP BY day) totals
             JOIN (SELECT DISTINCT ON (day) day, balance_after FROM ranged
                   ORDER BY day, created_at DESC, id DESC) last ON last.day = totals.day) f) AS flows,
          (SELECT coalesce(json_agg(w), '[]') FROM (
             SELECT ((l.expires_at AT TIME ZONE ${tz})::date - bounds.today) / 7 AS week,
                    sum(l.remaining) AS credits
             FROM credit_lot l
             WHERE l.user_id = ${userId} AND l.spendable
               AND l.expires_at > bounds.at AND l.expires_at < bounds.expiring_end
             GROUP BY 1) w) AS expiring,
          (SELECT coalesce(json_agg(k ORDER BY k.expires_at ASC NULLS LAST, k.created_at, k.id), '[]') FROM (
             SELECT l.remaining, l.expires_at, l.created_at, l.id,
                    floor(extract(epoch FROM l.expires_at - bounds.at))::bigint AS expires_in
             FROM credit_lot l
             WHERE l.user_id = ${userId} AND l.spendable
               AND (l.expires_at IS NULL OR l.expires_at > bounds.at)) k) AS lots
        FROM bounds`),
    );
  } catch (error) {
    // 22023: PostgreSQL's time zone database does not know a name the runtime accepted.
    if (sqlStateOf(error) === "22023")
      throw new InvalidInputError(`timeZone: ${timeZone} is not a time zone the database knows`);
    throw error;
  }

  const days = dayList(row.first_day, rangeDays);
  const spends = jsonValue(row.spends);
  const flows = new Map(jsonValue(row.flows).map((flow) => [flow.day, flow]));
  const features = featureSeries(spends);
  const seriesOf = new Map(features.map((series, index) => [series.feature, index]));
  const otherIndex = seriesOf.get(null);

  const byDay = new Map<string, UsageDay>();
  let balance = Number(row.opening ?? 0);
  for (const date of days) {
    const flow = flows.get(date);
    if (flow) balance = Number(flow.balance);
    byDay.set(date, {
      date,
      spent: 0,
      spentByFeature: features.map(() => 0),
      granted: Number(flow?.granted ?? 0),
      expired: Number(flow?.expired ?? 0),
      balance,
    });
  }
  for (const spend of spends) {
    const day = byDay.get(spend.day);
    if (!day) continue;
    const index = seriesOf.get(spend.feature) ?? otherIndex;
    const credits = Number(spend.credits);
    day.spent += credits;
    if (index !== undefined) day.spentByFeature[index] = (day.spentByFeature[index] ?? 0) + credits;
  }
  const usageDays = [...byDay.values()];

  const expiringWeeks = new Map(jsonValue(row.expiring).map((week) => [Number(week.week), week.credits]));
  const expiring = Array.from({ length: EXPIRING_WEEKS }, (_, week) => ({
    start: addDays(row.today, week * 7),
    end: addDays(row.today, week * 7 + 6),
    credits: Number(expiringWeeks.get(week) ?? 0),
  }));

  return {
    timeZone,
    rangeDays,
    from: row.first_day,
    to: row.today,
    features,
    days: usageDays,
    totals: {
      spent: usageDays.reduce((sum, day) => sum + day.spent, 0),
      granted: usageDays.reduce((sum, day) => sum + day.granted, 0),
      expired: usageDays.reduce((sum, day) => sum + day.expired, 0),
    },
    expiring,
    forecast: forecastRunOut({
      spentInWindow: BigInt(row.spent_in_window),
      lots: jsonValue(row.lots).map((lot) => ({
        remaining: BigInt(lot.remaining),
        expiresIn: lot.expires_in === null ? null : BigInt(lot.expires_in),
      })),
      nowEpochSeconds: BigInt(row.now_epoch),
      timeZone: databaseTimeZone(timeZone),
    }),
  };
}

/**
 * The spend chart's series: every feature when they fit in MAX_FEATURE_SERIES, otherwise the largest
 * MAX_FEATURE_SERIES - 1 and one `null` series for the rest; spends without a feature are always in `null`.
 * Largest first (ties by name), so colours stay with the same features while the data does.
 */
function featureSeries(spends: { feature: string | null; credits: number }[]) {
  const totals = new Map<string | null, number>();
  for (const spend of spends)
    totals.set(spend.feature, (totals.get(spend.feature) ?? 0) + Number(spend.credits));
  const named = [...totals]
    .filter((entry): entry is [string, number] => entry[0] !== null)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
  const unlabelled = totals.get(null) ?? 0;
  const fits = named.length + (totals.has(null) ? 1 : 0) <= MAX_FEATURE_SERIES;
  const shown = fits ? named : named.slice(0, MAX_FEATURE_SERIES - 1);
  const rest =
    (fits ? 0 : named.slice(MAX_FEATURE_SERIES - 1).reduce((sum, [, n]) => sum + n, 0)) + unlabelled;
  const series: { feature: string | null; spent: number }[] = shown.map(([feature, spent]) => ({
    feature,
    spent,
  }));
  if (totals.has(null) || !fits) series.push({ feature: null, spent: rest });
  return series;
}

/**
 * When the available credits run out if the user keeps spending at the last FORECAST_WINDOW_DAYS' pace.
 * Spends draw the soonest-expiring lot first (src/credits/sql/draw-from-lots.sql), so the lots are walked
 * in that order: a lot whose expiry comes before the pace reaches all of it gives only what the pace spends
 * by then, and the rest expires unused. Exact integer arithmetic: amounts are kept multiplied by the
 * window's seconds (W), so the pace S/W credits per second never becomes a fraction.
 */
export function forecastRunOut(input: {
  spentInWindow: bigint;
  lots: { remaining: bigint; expiresIn: bigint | null }[];
  nowEpochSeconds: bigint;
  timeZone: string;
}): UsageForecast {
  const { spentInWindow: spent, lots } = input;
  const available = lots.reduce((sum, lot) => sum + lot.remaining, 0n);
  const base = {
    windowDays: FORECAST_WINDOW_DAYS,
    spentInWindow: Number(spent),
    available: Number(available),
  };
  if (spent <= 0n)
    return { ...base, daysLeft: null, runsOutOn: null, beyondHorizon: false, expiresUnused: 0 };
  // `used` is credits × W: by time t (seconds) the pace has spent spent × t credits × W.
  let used = 0n;
  let unused = 0n;
  for (const lot of lots) {
    const whole = lot.remaining * WINDOW_SECONDS;
    if (lot.expiresIn === null) {
      used += whole;
      continue;
    }
    const reachable = spent * lot.expiresIn - used;
    const take = reachable <= 0n ? 0n : reachable < whole ? reachable : whole;
    used += take;
    unused += whole - take;
  }
  // Run out at t = used / spent seconds.
  const secondsLeft = used / spent;
  const daysLeft = secondsLeft / SECONDS_PER_DAY;
  const beyondHorizon = daysLeft > BigInt(FORECAST_HORIZON_DAYS);
  return {
    ...base,
    daysLeft: beyondHorizon ? null : Number(daysLeft),
    runsOutOn: beyondHorizon
      ? null
      : localDate(Number(input.nowEpochSeconds + secondsLeft) * 1000, input.timeZone),
    beyondHorizon,
    expiresUnused: Number(unused / WINDOW_SECONDS),
  };
}

/** The calendar day (`YYYY-MM-DD`) of an instant in a time zone. */
function localDate(epochMs: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date(epochMs));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** `YYYY-MM-DD` plus whole days (calendar arithmetic in UTC, where every day has 24 hours). */
function addDays(date: string, days: number): string {
  const time = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(time).toISOString().slice(0, 10);
}

function dayList(first: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => addDays(first, index));
}

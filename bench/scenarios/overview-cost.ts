import pg from "pg";
import { getLedgerOverview, type LedgerOverview } from "@/admin/get-ledger-overview";
import { connectDatabase, type DatabaseConnection } from "@/db/connect";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { analyze, poolOf } from "../lib/database";
import { ceilingTarget, checkTarget, fmt, type Table } from "../lib/report";
import { LatencyRecorder, type LatencySummary, nowMs, round } from "../lib/stats";

const MAXIMUM_RATIO = 1.5;
/** Entries per account: the number of accounts grows with the ledger, as it does in a real installation. */
const ENTRIES_PER_ACCOUNT = 1_000;
/** Days the entries are spread over, so every range of the overview has rows to add. */
const SPREAD_DAYS = 400;
/** Rows per seeding statement: one statement per chunk keeps each transaction's memory bounded. */
const CHUNK = 1_000_000;

/**
 * Scenario 6: the admin overview (src/admin/get-ledger-overview.ts) over a ledger of BENCH_OVERVIEW_ENTRIES
 * entries (10,000,000 by default) against the same page over BENCH_OVERVIEW_SMALL_ENTRIES (1,000), each in a
 * database of its own, called alternately. Target: the large ledger's p50 within 1.5x of the small one's.
 *
 * Seeding: the small ledger is written with the triggers on (each entry updates the aggregates as in
 * production). The large one is bulk-inserted with triggers off (`session_replication_role = replica`, as a
 * restore would) and then aggregated by the migration's own backfill statements (0022_ledger_aggregates.sql),
 * so 10,000,000 rows load in minutes; both are then checked against a full recomputation from the entries
 * before anything is timed.
 */
export async function runOverviewCost(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config } = ctx;
  const sizes = [
    { name: "small", entries: config.overview.smallEntries },
    { name: "large", entries: config.overview.entries },
  ] as const;
  const connections: Record<string, DatabaseConnection> = {};
  const seeded: Record<string, number> = {};
  const failures: string[] = [];
  try {
    for (const size of sizes) {
      const name = `${config.databaseName}_overview_${size.name}`;
      await recreate(config.maintenanceUrl, name);
      const url = new URL(config.maintenanceUrl);
      url.pathname = `/${name}`;
      const connection = await connectDatabase({ kind: "postgres", url: url.toString(), poolSize: 4 });
      connections[size.name] = connection;
      ctx.log(`  6: seeding ${size.entries.toLocaleString("en-US")} entries (${size.name})`);
      const started = nowMs();
      await seed(poolOf(connection.db), size.entries, size.name === "small");
      seeded[size.name] = round((nowMs() - started) / 1000, 1);
      ctx.log(`  6: seeded ${size.name} in ${seeded[size.name]} s`);
      failures.push(
        ...(await check(
          poolOf(connection.db),
          await getLedgerOverview(connection.db, { days: 90 }),
          size.name,
        )),
      );
    }

    const recorders = { small: new LatencyRecorder(), large: new LatencyRecorder() };
    const start = nowMs();
    const measureFrom = start + config.warmupSeconds * 1000;
    const stopAt = measureFrom + config.seconds * 1000;
    ctx.log(`  6: overview (90 days), small and large alternately for ${config.seconds} s`);
    while (nowMs() < stopAt) {
      for (const size of ["small", "large"] as const) {
        const connection = connections[size];
        if (!connection) throw new Error(`no ${size} database`);
        const began = nowMs();
        await getLedgerOverview(connection.db, { days: 90 });
        if (began >= measureFrom) recorders[size].record(nowMs() - began);
      }
    }
    const small = recorders.small.summary();
    const large = recorders.large.summary();
    const ratio = large.p50 / small.p50;
    const row = (label: string, entries: number, s: LatencySummary) => [
      label,
      entries.toLocaleString("en-US"),
      s.count,
      fmt(s.p50),
      fmt(s.p99),
      fmt(s.mean),
      `${seeded[label]} s`,
    ];
    const table: Table = {
      title: "6. Admin overview (90 days) against ledger size",
      headers: ["ledger", "entries", "calls", "p50 ms", "p99 ms", "mean ms", "seeded in"],
      rows: [row("small", sizes[0].entries, small), row("large", sizes[1].entries, large)],
      notes: [
        `${ENTRIES_PER_ACCOUNT} entries per account over ${SPREAD_DAYS} days; the overview reads only the daily aggregates.`,
        `large/small p50 = ${fmt(ratio)}x`,
      ],
    };
    return {
      tables: [table],
      targets: [
        ceilingTarget(6, "overview, large/small ledger p50", round(ratio), MAXIMUM_RATIO, "x"),
        checkTarget(
          6,
          "overview equals the ledger recomputed",
          failures.length === 0,
          failures.join("; ") || "both ledgers",
        ),
      ],
      data: { sizes, small, large, ratio, seededSeconds: seeded },
      ...(failures.length ? { failed: failures.join("; ") } : {}),
    };
  } finally {
    for (const connection of Object.values(connections)) await connection.close().catch(() => {});
    if (!config.keep)
      for (const size of sizes)
        await drop(config.maintenanceUrl, `${config.databaseName}_overview_${size.name}`);
  }
}

async function maintenance<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}
const recreate = (url: string, name: string) =>
  maintenance(url, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}"`);
  });
const drop = (url: string, name: string) =>
  maintenance(url, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));

/**
 * Accounts of ENTRIES_PER_ACCOUNT entries each: a purchase (with its succeeded purchase row), then spends,
 * with a grant, an expiry and a refund mixed in, spread over SPREAD_DAYS days. One lot per account holds
 * its balance, paid or promotional in turn. Not a chained ledger (balance_after is not kept): the overview
 * and its aggregates never read it.
 */
async function seed(pool: pg.Pool, entries: number, withTriggers: boolean): Promise<void> {
  const accounts = Math.max(1, Math.ceil(entries / ENTRIES_PER_ACCOUNT));
  const client = await pool.connect();
  try {
    await client.query("SET statement_timeout = 0");
    if (!withTriggers) await client.query("SET session_replication_role = replica");
    await client.query(
      `INSERT INTO "user" (id, name, email) SELECT 'ov-' || a, 'Overview ' || a, 'ov-' || a || '@bench.invalid'
       FROM generate_series(0, $1::int - 1) a`,
      [accounts],
    );
    await client.query(
      `INSERT INTO credit_account (user_id, balance) SELECT 'ov-' || a, 1000 FROM generate_series(0, $1::int - 1) a`,
      [accounts],
    );
    await client.query(
      `INSERT INTO credit_lot (user_id, credits, remaining, source, category)
       SELECT 'ov-' || a, 5000, 1000, 'purchase', CASE WHEN a % 2 = 0 THEN 'paid' ELSE 'promotional' END
       FROM generate_series(0, $1::int - 1) a`,
      [accounts],
    );
    await client.query(
      `INSERT INTO credit_purchase (user_id, package_id, credits, amount, currency, provider, status, amount_refunded, created_at)
       SELECT 'ov-' || a, CASE WHEN a % 3 = 0 THEN 'basic' ELSE 'standard' END, 500, 3999,
              CASE WHEN a % 5 = 0 THEN 'eur' ELSE 'usd' END, 'sandbox', 'succeeded', CASE WHEN a % 7 = 0 THEN 1000 ELSE 0 END,
              now() - make_interval(days => a % ${SPREAD_DAYS})
       FROM generate_series(0, $1::int - 1) a`,
      [accounts],
    );
    for (let from = 0; from < entries; from += CHUNK) {
      const to = Math.min(entries, from + CHUNK) - 1;
      await client.query(
        `INSERT INTO credit_entry (user_id, type, amount, balance_after, debt_change, description, idempotency_key, request_hash, created_at)
         SELECT 'ov-' || (i / ${ENTRIES_PER_ACCOUNT}), k.type, k.amount, 1000, k.debt, 'bench', 'ov:' || i, 'bench',
                now() - make_interval(days => (i % ${SPREAD_DAYS})::int, secs => (i % 86400)::float8)
         FROM generate_series($1::bigint, $2::bigint) i
         CROSS JOIN LATERAL (SELECT
           CASE WHEN i % ${ENTRIES_PER_ACCOUNT} = 0 THEN 'purchase' WHEN i % 97 = 0 THEN 'grant'
                WHEN i % 89 = 0 THEN 'expire' WHEN i % 83 = 0 THEN 'refund' ELSE 'consume' END AS type,
           CASE WHEN i % ${ENTRIES_PER_ACCOUNT} = 0 THEN 5000 WHEN i % 97 = 0 THEN 50
                WHEN i % 89 = 0 THEN -3 WHEN i % 83 = 0 THEN -2 ELSE -1 END AS amount,
           CASE WHEN i % ${ENTRIES_PER_ACCOUNT} <> 0 AND i % 97 <> 0 AND i % 89 <> 0 AND i % 83 = 0 THEN 1 ELSE 0 END AS debt) k`,
        [from, to],
      );
    }
    if (!withTriggers) {
      await client.query("SET session_replication_role = origin");
      // The migration's backfill, statement for statement (src/db/migrations/0022_ledger_aggregates.sql).
      await client.query("DELETE FROM credit_account_total");
      await client.query(`INSERT INTO credit_daily_total (day, entry_type, credits_in, credits_out, debt_change, entries)
        SELECT (created_at AT TIME ZONE 'UTC')::date, type,
               sum(greatest(amount, 0)), sum(greatest(-amount, 0)), sum(debt_change), count(*)
        FROM credit_entry GROUP BY 1, 2`);
      await client.query(`INSERT INTO credit_outstanding (category, source, remaining)
        SELECT category, source, sum(remaining) FROM credit_lot WHERE remaining <> 0 GROUP BY 1, 2`);
      await client.query(`INSERT INTO credit_account_total (id, balance, held, debt)
        SELECT 1, coalesce(sum(balance), 0), coalesce(sum(held), 0), coalesce(sum(debt), 0) FROM credit_account`);
      await client.query(`INSERT INTO purchase_daily_revenue (day, kind, package_id, currency, purchases, amount, refunded)
        SELECT (created_at AT TIME ZONE 'UTC')::date, kind, package_id, currency, count(*), sum(amount), sum(amount_refunded)
        FROM credit_purchase WHERE status = 'succeeded' GROUP BY 1, 2, 3, 4`);
    }
  } finally {
    await client.query("RESET session_replication_role").catch(() => {});
    client.release();
  }
  await analyze(pool, [
    "credit_entry",
    "credit_daily_total",
    "credit_outstanding",
    "credit_account_total",
    "purchase_daily_revenue",
  ]);
}

/** The overview's totals against sums over the entries and lots themselves: speed means nothing if wrong. */
async function check(pool: pg.Pool, overview: LedgerOverview, label: string): Promise<string[]> {
  // A full scan of 10,000,000 entries takes longer than the app's statement_timeout (15 s): lift it here.
  const client = await pool.connect();
  let rows: { consumed: string; expired: string; sold: string; paid: string; promotional: string }[];
  try {
    await client.query("SET statement_timeout = 0");
    ({ rows } = await client.query<{
      consumed: string;
      expired: string;
      sold: string;
      paid: string;
      promotional: string;
    }>(
      `SELECT
       (SELECT coalesce(sum(-amount), 0) FROM credit_entry WHERE amount < 0 AND type NOT IN ('expire', 'refund', 'dispute', 'debt_repayment')
          AND (created_at AT TIME ZONE 'UTC')::date BETWEEN $1::date AND $2::date) AS consumed,
       (SELECT coalesce(sum(-amount), 0) FROM credit_entry WHERE type = 'expire'
          AND (created_at AT TIME ZONE 'UTC')::date BETWEEN $1::date AND $2::date) AS expired,
       (SELECT coalesce(sum(amount), 0) FROM credit_entry WHERE type = 'purchase'
          AND (created_at AT TIME ZONE 'UTC')::date BETWEEN $1::date AND $2::date) AS sold,
       (SELECT coalesce(sum(remaining), 0) FROM credit_lot WHERE category = 'paid') AS paid,
       (SELECT coalesce(sum(remaining), 0) FROM credit_lot WHERE category = 'promotional') AS promotional`,
      [overview.from, overview.to],
    ));
  } finally {
    await client.query("RESET statement_timeout").catch(() => {});
    client.release();
  }
  const expected = rows[0];
  if (!expected) return [`${label}: no answer`];
  const failures: string[] = [];
  for (const [name, actual, wanted] of [
    ["consumed", overview.totals.consumed, expected.consumed],
    ["expired", overview.totals.expired, expected.expired],
    ["sold", overview.totals.sold, expected.sold],
    ["paid", overview.outstanding.paid, expected.paid],
    ["promotional", overview.outstanding.promotional, expected.promotional],
  ] as const)
    if (actual !== Number(wanted)) failures.push(`${label} ${name}: overview ${actual}, ledger ${wanted}`);
  return failures;
}

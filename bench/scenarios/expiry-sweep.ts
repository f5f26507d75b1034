import { sweepExpiredLots } from "@/credits/sweep-expired-lots";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { pick } from "../lib/context";
import { analyze } from "../lib/database";
import { explainStatements } from "../lib/explain";
import { runFixedRate } from "../lib/load";
import { startLockSampler } from "../lib/lock-sampler";
import { describeStatement, recordQueries, rolledBack } from "../lib/query-log";
import { ceilingTarget, checkTarget, floorTarget, fmt, type Table, type TargetResult } from "../lib/report";
import { inTransaction, linkGrantEntries } from "../lib/seed";
import { nowMs, round } from "../lib/stats";
import { summarize } from "../lib/summaries";
import { ourSpend } from "./spend-operations";

const PREFIX = "bench-sweep-";
const LOT_CREDITS = 10;
const MINIMUM_LOTS_PER_SECOND = 10_000;
const MAXIMUM_SPEND_P99_MS = 50;
/** Spends in flight beyond this are counted as skipped instead of queued without bound. */
const MAX_IN_FLIGHT = 64;
/** The sweep's default batch (src/credits/sweep-expired-lots.ts). */
const USERS_PER_TRANSACTION = 50;

/**
 * `lots` lots of LOT_CREDITS that all expired at the same instant (the end of a campaign), spread round-robin
 * over `users` users, each with its grant entry (balance_after running up per user) and an account whose
 * balance is the sum of its lots: the state addCredits leaves, written in bulk.
 */
async function seedExpiredLots(
  ctx: BenchContext,
  lots: number,
  users: number,
  expiredAt: Date,
): Promise<void> {
  await inTransaction(ctx.pool, async (client) => {
    await client.query(
      `INSERT INTO "user" (id, name, email)
       SELECT $1::text || lpad(u::text, 6, '0'), 'Bench sweep user', $1::text || lpad(u::text, 6, '0') || '@bench.invalid'
       FROM generate_series(1, $2::int) AS u`,
      [PREFIX, users],
    );
    await client.query(
      `INSERT INTO credit_account (user_id, balance)
       SELECT $1::text || lpad(u::text, 6, '0'),
              $4::bigint * ($2::int / $3::int + CASE WHEN u <= $2::int % $3::int THEN 1 ELSE 0 END)
       FROM generate_series(1, $3::int) AS u`,
      [PREFIX, lots, users, LOT_CREDITS],
    );
    await client.query(
      `INSERT INTO credit_lot (id, user_id, credits, remaining, expires_at, source, category, created_at)
       SELECT md5('bench-sweep-lot:' || n)::uuid, $1::text || lpad(((n - 1) % $3::int + 1)::text, 6, '0'),
              $4::bigint, $4::bigint, $5::timestamptz, 'grant', 'promotional',
              $5::timestamptz - interval '30 days' + make_interval(secs => (n - 1) / $3::int)
       FROM generate_series(1, $2::int) AS n`,
      [PREFIX, lots, users, LOT_CREDITS, expiredAt],
    );
    await client.query(
      `INSERT INTO credit_entry
         (user_id, type, amount, balance_after, description, idempotency_key, request_hash, metadata, created_at)
       SELECT $1::text || lpad(((n - 1) % $3::int + 1)::text, 6, '0'), 'grant', $4::bigint,
              $4::bigint * ((n - 1) / $3::int + 1), 'Bench campaign credits', 'bench-sweep-grant:' || n, 'bench',
              jsonb_build_object('lotId', md5('bench-sweep-lot:' || n)::uuid),
              $5::timestamptz - interval '30 days' + make_interval(secs => (n - 1) / $3::int)
       FROM generate_series(1, $2::int) AS n`,
      [PREFIX, lots, users, LOT_CREDITS, expiredAt],
    );
    await linkGrantEntries(client, PREFIX);
  });
}

async function verifySweep(ctx: BenchContext, lots: number, users: number): Promise<string[]> {
  const { rows } = await ctx.pool.query<{
    left: string;
    expire_entries: string;
    allocations: string;
    nonzero: string;
  }>(
    `SELECT (SELECT count(*) FROM credit_lot WHERE user_id LIKE $1 || '%' AND remaining > 0) AS left,
            (SELECT count(*) FROM credit_entry WHERE user_id LIKE $1 || '%' AND type = 'expire') AS expire_entries,
            (SELECT count(*) FROM credit_allocation a JOIN credit_entry e ON e.id = a.entry_id
              WHERE e.user_id LIKE $1 || '%' AND e.type = 'expire') AS allocations,
            (SELECT count(*) FROM credit_account WHERE user_id LIKE $1 || '%' AND balance <> 0) AS nonzero`,
    [PREFIX],
  );
  const row = rows[0]!;
  const problems: string[] = [];
  if (Number(row.left) !== 0) problems.push(`${row.left} lots still hold credits`);
  if (Number(row.expire_entries) !== lots)
    problems.push(`${row.expire_entries} expire entries, expected ${lots}`);
  if (Number(row.allocations) !== lots)
    problems.push(`${row.allocations} expire allocations, expected ${lots}`);
  if (Number(row.nonzero) !== 0) problems.push(`${row.nonzero}/${users} accounts not at zero`);
  return problems;
}

export async function runExpirySweep(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, db, pool } = ctx;
  const { lots, users, spendRate } = config.sweep;
  const spenders = (await ctx.spendUsers()).spread;
  const expiredAt = new Date(Date.now() - 60_000);
  ctx.log(
    `  5: seeding ${lots.toLocaleString("en-US")} lots expired at one instant over ${users.toLocaleString("en-US")} users`,
  );
  const seedStarted = nowMs();
  await seedExpiredLots(ctx, lots, users, expiredAt);
  await analyze(pool, ["credit_lot", "credit_entry", "credit_account", "credit_allocation"]);
  const seedSeconds = (nowMs() - seedStarted) / 1000;
  const now = new Date();

  // One batch of the sweep, captured and rolled back: its statements per lot, and their plans.
  const batch = await recordQueries(() =>
    rolledBack(db, (tx) => sweepExpiredLots(tx, now, { maxUsers: USERS_PER_TRANSACTION })),
  );
  const lotsInBatch = Math.round((lots / users) * USERS_PER_TRANSACTION);
  const plans = await explainStatements(pool, batch.queries, { onlyFirstOfEachLabel: true });

  const spend = () => ourSpend(db, pick(spenders));
  ctx.log(`  5: baseline: ${spendRate} spends/s for ${config.seconds} s without the sweep`);
  await runFixedRate({
    ratePerSecond: spendRate,
    seconds: config.warmupSeconds,
    maxInFlight: MAX_IN_FLIGHT,
    operation: spend,
  });
  const baseline = await runFixedRate({
    ratePerSecond: spendRate,
    seconds: config.seconds,
    maxInFlight: MAX_IN_FLIGHT,
    operation: spend,
  });

  ctx.log(`  5: sweepExpiredLots with ${spendRate} spends/s alongside`);
  const sampler = startLockSampler(config.databaseUrl, config.databaseName, 100);
  let sweepDone = false;
  const sweepStarted = nowMs();
  const sweep = sweepExpiredLots(db, now).finally(() => {
    sweepDone = true;
  });
  const during = await runFixedRate({
    ratePerSecond: spendRate,
    until: () => sweepDone,
    maxInFlight: MAX_IN_FLIGHT,
    operation: spend,
  });
  const swept = await sweep;
  const sweepSeconds = (nowMs() - sweepStarted) / 1000;
  const locks = await sampler.stop();
  const lotsPerSecond = swept.expiredLots / sweepSeconds;

  const problems = await verifySweep(ctx, lots, users);
  if (swept.expiredLots !== lots) problems.push(`sweep reported ${swept.expiredLots} lots, expected ${lots}`);
  if (baseline.errors + during.errors > 0)
    problems.push(
      `${baseline.errors + during.errors} spends failed: ${baseline.firstError ?? during.firstError}`,
    );

  const table: Table = {
    title: `5. Expiry sweep: ${lots.toLocaleString("en-US")} lots due at once over ${users.toLocaleString("en-US")} users; spends at ${spendRate}/s on other users`,
    headers: [
      "sweep s",
      "lots/s",
      "users/s",
      "spend p50 ms (no sweep)",
      "spend p99 ms (no sweep)",
      "spend p50 ms (sweeping)",
      "spend p99 ms (sweeping)",
      "spends skipped",
    ],
    rows: [
      [
        fmt(sweepSeconds, 1),
        fmt(lotsPerSecond, 0),
        fmt(swept.users / sweepSeconds, 0),
        fmt(baseline.latency.p50),
        fmt(baseline.latency.p99),
        fmt(during.latency.p50),
        fmt(during.latency.p99),
        baseline.skipped + during.skipped,
      ],
    ],
    notes: [
      `round trips in one ${USERS_PER_TRANSACTION}-user batch: ${batch.queries.length} for ~${lotsInBatch} lots (${fmt(batch.queries.length / lotsInBatch)} per lot)`,
      `seeded in ${seedSeconds.toFixed(1)} s; spend latency measured from each spend's scheduled start (open loop)`,
      ...problems.map((p) => `CHECK FAILED: ${p}`),
    ],
  };
  const targets: TargetResult[] = [
    floorTarget(5, "5 sweep throughput", lotsPerSecond, MINIMUM_LOTS_PER_SECOND, "lots/s"),
    ceilingTarget(5, "5 spend p99 while sweeping", during.latency.p99, MAXIMUM_SPEND_P99_MS, " ms", true),
    checkTarget(
      5,
      "5 every due lot expired exactly once",
      problems.length === 0,
      problems.join("; ") || "ok",
    ),
  ];
  return {
    tables: [table],
    targets,
    data: {
      lots,
      users,
      spendRate,
      seedSeconds: round(seedSeconds, 1),
      sweepSeconds: round(sweepSeconds, 2),
      lotsPerSecond: round(lotsPerSecond, 1),
      swept,
      spendsWithoutSweep: { ...summarize(baseline), skipped: baseline.skipped },
      spendsDuringSweep: { ...summarize(during), skipped: during.skipped },
      locks,
      problems,
    },
    evidence: {
      batchStatements: batch.queries.length,
      lotsInBatch,
      statementsPerLot: round(batch.queries.length / lotsInBatch, 2),
      statementKinds: countLabels(batch.queries.map((q) => describeStatement(q.text))),
      plans,
    },
    ...(problems.length ? { failed: problems.join("; ") } : {}),
  };
}

function countLabels(labels: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const label of labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

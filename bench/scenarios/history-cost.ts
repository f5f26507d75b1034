import { getBalance } from "@/credits/get-balance";
import { listTransactions } from "@/credits/list-transactions";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { analyze } from "../lib/database";
import { explainStatements } from "../lib/explain";
import { recordQueries, rolledBack } from "../lib/query-log";
import { ceilingTarget, checkTarget, fmt, type Table, type TargetResult } from "../lib/report";
import { inTransaction } from "../lib/seed";
import { LatencyRecorder, type LatencySummary, nowMs, round } from "../lib/stats";
import { ourSpend } from "./spend-operations";

const HEAVY = "bench-history-heavy";
const LIGHT = "bench-history-light";
const LIGHT_ENTRIES = 10;
const MAXIMUM_RATIO = 1.5;

export type Shape = { entries: number; lots: number; lotCredits: number; balance: number };

/**
 * The ledger of one user, written in bulk but as the operations would leave it: `lots` grants first (one
 * lot and one entry each), then 1-credit spends until there are `entries` entries. balance_after runs down
 * the chain; the lots' remaining credits add up to the account balance; half the lots expire in the
 * future and half never, so none is due and nothing is left for the sweep. Scenario 9 seeds its exports
 * the same way.
 */
export function shapeOf(entries: number, lots: number): Shape {
  const spends = entries - lots;
  // Enough left for the informational spends below, whatever the shape.
  const lotCredits = Math.max(2 * Math.ceil(entries / lots), Math.ceil(1_000_000 / lots));
  return { entries, lots, lotCredits, balance: lotCredits * lots - spends };
}

/** Writes `shape` for a user that exists and has no account yet (see shapeOf). */
export async function seedLedger(ctx: BenchContext, userId: string, shape: Shape): Promise<void> {
  await inTransaction(ctx.pool, async (client) => {
    await client.query(`INSERT INTO credit_account (user_id, balance) VALUES ($1, $2)`, [
      userId,
      shape.balance,
    ]);
    // remaining: the balance spread evenly over the lots (the first few take the remainder).
    await client.query(
      `INSERT INTO credit_lot (id, user_id, credits, remaining, expires_at, source, category, created_at)
       SELECT md5($1::text || ':lot:' || j)::uuid, $1::text, $2::bigint,
              $3::bigint / $4::int + CASE WHEN j <= $3::bigint % $4::int THEN 1 ELSE 0 END,
              CASE WHEN j <= $4::int / 2 THEN now() + make_interval(days => j) END,
              'grant', 'promotional', now() - make_interval(secs => $5::int - j)
       FROM generate_series(1, $4::int) AS j`,
      [userId, shape.lotCredits, shape.balance, shape.lots, shape.entries],
    );
    await client.query(
      `INSERT INTO credit_entry
         (user_id, type, amount, balance_after, description, idempotency_key, request_hash, metadata, created_at)
       SELECT $1::text,
              CASE WHEN i <= $3::int THEN 'grant' ELSE 'consume' END,
              CASE WHEN i <= $3::int THEN $2::bigint ELSE -1 END,
              CASE WHEN i <= $3::int THEN $2::bigint * i ELSE $2::bigint * $3::int - (i - $3::int) END,
              CASE WHEN i <= $3::int THEN 'Bench grant' ELSE 'Bench spend' END,
              'bench-history:' || i, 'bench',
              CASE WHEN i <= $3::int THEN jsonb_build_object('lotId', md5($1::text || ':lot:' || i)::uuid) END,
              now() - make_interval(secs => $4::int - i)
       FROM generate_series(1, $4::int) AS i`,
      [userId, shape.lotCredits, shape.lots, shape.entries],
    );
    await client.query(
      `UPDATE credit_lot l SET grant_entry_id = e.id FROM credit_entry e
       WHERE e.user_id = $1 AND e.type = 'grant' AND l.id = (e.metadata->>'lotId')::uuid`,
      [userId],
    );
  });
}

type Series = { user: "heavy" | "light"; latency: LatencySummary };

/** Calls heavy and light alternately, one at a time, so drift and noise land on both alike. */
async function alternate(
  seconds: number,
  warmupSeconds: number,
  call: (userId: string) => Promise<unknown>,
): Promise<Series[]> {
  const recorders = { heavy: new LatencyRecorder(), light: new LatencyRecorder() };
  const start = nowMs();
  const measureFrom = start + warmupSeconds * 1000;
  const stopAt = measureFrom + seconds * 1000;
  while (nowMs() < stopAt) {
    for (const user of ["heavy", "light"] as const) {
      const began = nowMs();
      await call(user === "heavy" ? HEAVY : LIGHT);
      if (began >= measureFrom) recorders[user].record(nowMs() - began);
    }
  }
  return (["heavy", "light"] as const).map((user) => ({ user, latency: recorders[user].summary() }));
}

export async function runHistoryCost(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, db, pool } = ctx;
  const heavy = shapeOf(config.history.entries, config.history.lots);
  const light = shapeOf(LIGHT_ENTRIES, 1);
  ctx.log(
    `  3: seeding ${heavy.entries.toLocaleString("en-US")} entries and ${heavy.lots} lots for one user`,
  );
  const seedStarted = nowMs();
  await inTransaction(pool, async (client) => {
    await client.query(
      `INSERT INTO "user" (id, name, email) VALUES ($1, 'Bench heavy', $1 || '@bench.invalid'),
                                                  ($2, 'Bench light', $2 || '@bench.invalid')`,
      [HEAVY, LIGHT],
    );
  });
  await seedLedger(ctx, HEAVY, heavy);
  await seedLedger(ctx, LIGHT, light);
  await analyze(pool, ["credit_entry", "credit_lot", "credit_account"]);
  const seedSeconds = (nowMs() - seedStarted) / 1000;
  ctx.log(`  3: seeded in ${seedSeconds.toFixed(1)} s`);

  // The reads must be right before their speed means anything.
  const checks: string[] = [];
  for (const [userId, shape] of [
    [HEAVY, heavy],
    [LIGHT, light],
  ] as const) {
    const balance = await getBalance(db, userId);
    const page = await listTransactions(db, { userId });
    if (balance.balance !== shape.balance)
      checks.push(`${userId}: balance ${balance.balance} != ${shape.balance}`);
    if (page.items[0]?.balanceAfter !== shape.balance)
      checks.push(`${userId}: newest entry disagrees with balance`);
    if (page.items.length !== Math.min(20, shape.entries))
      checks.push(`${userId}: first page has ${page.items.length}`);
  }

  // p99 of sub-millisecond reads needs thousands of samples to settle: the full BENCH_SECONDS per series.
  const seriesSeconds = config.seconds;
  ctx.log(`  3: getBalance, heavy and light alternately for ${seriesSeconds} s`);
  const balanceSeries = await alternate(seriesSeconds, config.warmupSeconds, (userId) =>
    getBalance(db, userId),
  );
  ctx.log(`  3: listTransactions first page, heavy and light alternately for ${seriesSeconds} s`);
  const listSeries = await alternate(seriesSeconds, config.warmupSeconds, (userId) =>
    listTransactions(db, { userId }),
  );

  // Not a target, but the same question for the write path: does a spend slow down with history?
  ctx.log(
    `  3: consumeCredits (1 credit), heavy and light alternately for ${seriesSeconds} s (informational)`,
  );
  const spendSeries = await alternate(seriesSeconds, config.warmupSeconds, (userId) => ourSpend(db, userId));

  const explainFor = async (call: () => Promise<unknown>) => {
    const { queries } = await recordQueries(call);
    return explainStatements(pool, queries);
  };
  const evidence = {
    getBalanceHeavy: await explainFor(() => getBalance(db, HEAVY)),
    getBalanceLight: await explainFor(() => getBalance(db, LIGHT)),
    listTransactionsHeavy: await explainFor(() => listTransactions(db, { userId: HEAVY })),
    listTransactionsLight: await explainFor(() => listTransactions(db, { userId: LIGHT })),
    consumeCreditsHeavy: await explainFor(() => rolledBack(db, (tx) => ourSpend(tx, HEAVY))),
  };

  const rows: { name: string; series: Series[]; target: boolean }[] = [
    { name: "getBalance", series: balanceSeries, target: true },
    { name: "listTransactions (first page)", series: listSeries, target: true },
    { name: "consumeCredits (no target)", series: spendSeries, target: false },
  ];
  const targets: TargetResult[] = [];
  const table: Table = {
    title: `3. Cost against history: ${heavy.entries.toLocaleString("en-US")} entries + ${heavy.lots} lots vs ${LIGHT_ENTRIES} entries (1 client, alternating)`,
    headers: [
      "operation",
      "heavy p50 ms",
      "heavy p99 ms",
      "light p50 ms",
      "light p99 ms",
      "p50 heavy/light",
      "p99 heavy/light",
      "calls each",
    ],
    rows: rows.map(({ name, series, target }) => {
      const [h, l] = series.map((s) => s.latency) as [LatencySummary, LatencySummary];
      const p50Ratio = h.p50 / l.p50;
      const p99Ratio = h.p99 / l.p99;
      if (target) {
        targets.push(ceilingTarget(3, `3 ${name} p50 heavy/light`, p50Ratio, MAXIMUM_RATIO, "x"));
        targets.push(ceilingTarget(3, `3 ${name} p99 heavy/light`, p99Ratio, MAXIMUM_RATIO, "x"));
      }
      return [
        name,
        fmt(h.p50, 3),
        fmt(h.p99, 3),
        fmt(l.p50, 3),
        fmt(l.p99, 3),
        `${fmt(p50Ratio)}x`,
        `${fmt(p99Ratio)}x`,
        h.count,
      ];
    }),
    notes: [`seeded in ${seedSeconds.toFixed(1)} s with generate_series, then VACUUM ANALYZE`],
  };
  targets.push(
    checkTarget(3, "3 reads return the seeded ledger", checks.length === 0, checks.join("; ") || "ok"),
  );
  return {
    tables: [table],
    targets,
    data: {
      heavy,
      light,
      seedSeconds: round(seedSeconds, 1),
      series: rows.map(({ name, series }) => ({
        operation: name,
        ...Object.fromEntries(
          series.map((s) => [
            s.user,
            {
              calls: s.latency.count,
              p50Ms: round(s.latency.p50, 4),
              p99Ms: round(s.latency.p99, 4),
              maxMs: round(s.latency.max, 3),
            },
          ]),
        ),
      })),
      checks,
    },
    evidence,
    ...(checks.length ? { failed: checks.join("; ") } : {}),
  };
}

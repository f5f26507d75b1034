import type { BenchContext, ScenarioOutput } from "../lib/context";
import { pick } from "../lib/context";
import { type CpuUsage, startCpuMeter } from "../lib/cpu";
import { analyze } from "../lib/database";
import { explainStatements } from "../lib/explain";
import { combineRuns, type RunResult, runClosedLoop } from "../lib/load";
import { type LockSample, mergeLockSamples, startLockSampler } from "../lib/lock-sampler";
import { tableCounters, walPosition, walSince } from "../lib/pg-stats";
import { describeStatement, recordQueries, rolledBack } from "../lib/query-log";
import { fmt, ratioTarget, type Table, type TargetResult } from "../lib/report";
import { LatencyRecorder, round } from "../lib/stats";
import { type CpuPerOp, cpuPerOp, summarize, topEvents } from "../lib/summaries";
import { baselineSpend, ourSpend } from "./spend-operations";

export const SPEND_CONCURRENCY = [1, 8, 32] as const;
const MINIMUM_RATIO = { spread: 0.8, one: 0.7 } as const;

type Point = {
  mode: "spread" | "one";
  clients: number;
  baseline: RunResult;
  ours: RunResult;
  ratio: number;
  locks: { baseline: LockSample; ours: LockSample };
  cpu: { baseline: CpuPerOp; ours: CpuPerOp };
};

const latencyCells = (run: RunResult) => [
  fmt(run.opsPerSecond, 0),
  fmt(run.latency.p50),
  fmt(run.latency.p99),
];

export async function runSpendInProcess(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, db, pool } = ctx;
  const users = await ctx.spendUsers();
  type Measured = { run: RunResult; cpu: CpuUsage & { walBytes: number }; locks: LockSample };
  /** One turn of one variant: a closed-loop run with CPU, WAL and lock sampling around it. */
  const turn = async (
    clients: number,
    operation: () => Promise<void>,
    warmupSeconds: number,
    recorder: LatencyRecorder,
  ) => {
    const sampler = startLockSampler(config.databaseUrl, config.databaseName, 100);
    const meter = await startCpuMeter(pool, config.databaseName);
    const walBefore = await walPosition(pool);
    const run = await runClosedLoop({
      concurrency: clients,
      seconds: config.seconds / config.rounds,
      warmupSeconds,
      operation,
      recorder,
    });
    const walBytes = await walSince(pool, walBefore);
    const cpu = await meter.stop();
    return { run, cpu: { ...cpu, walBytes }, locks: await sampler.stop() };
  };
  /**
   * Baseline and ours take turns (B O B O ...), config.rounds each, on the same pool: drift and other
   * work on the machine fall on both sides alike. Only the first turn of each side has the full warm-up.
   */
  const measurePoint = async (
    clients: number,
    variants: { baseline: () => Promise<void>; ours: () => Promise<void> },
  ) => {
    const turns = { baseline: [] as Measured[], ours: [] as Measured[] };
    const recorders = { baseline: new LatencyRecorder(), ours: new LatencyRecorder() };
    for (let round = 0; round < config.rounds; round++) {
      for (const side of ["baseline", "ours"] as const) {
        const warmup = round === 0 ? config.warmupSeconds : Math.min(0.25, config.warmupSeconds);
        turns[side].push(await turn(clients, variants[side], warmup, recorders[side]));
      }
    }
    const combine = (list: Measured[]): Measured => ({
      run: combineRuns(list.map((m) => m.run)),
      cpu: {
        clientMs: list.reduce((sum, m) => sum + m.cpu.clientMs, 0),
        serverMs: null,
        databaseMs: list.some((m) => m.cpu.databaseMs === null)
          ? null
          : list.reduce((sum, m) => sum + (m.cpu.databaseMs ?? 0), 0),
        machineBusyShare:
          list.reduce((sum, m) => sum + (m.cpu.machineBusyShare ?? 0) * m.cpu.wallMs, 0) /
          Math.max(
            1,
            list.reduce((sum, m) => sum + m.cpu.wallMs, 0),
          ),
        wallMs: list.reduce((sum, m) => sum + m.cpu.wallMs, 0),
        walBytes: list.reduce((sum, m) => sum + m.cpu.walBytes, 0),
      },
      locks: mergeLockSamples(list.map((m) => m.locks)),
    });
    return { baseline: combine(turns.baseline), ours: combine(turns.ours) };
  };

  const points: Point[] = [];
  for (const mode of ["spread", "one"] as const) {
    const choose = mode === "spread" ? () => pick(users.spread) : () => users.hot;
    for (const clients of SPEND_CONCURRENCY) {
      ctx.log(
        `  1${mode === "spread" ? "a" : "b"}: ${clients} client(s), baseline and consumeCredits in ${config.rounds} alternating turns`,
      );
      const { baseline, ours } = await measurePoint(clients, {
        baseline: () => baselineSpend(pool, choose()),
        ours: () => ourSpend(db, choose()),
      });
      for (const [name, { run }] of [
        ["baseline", baseline],
        ["ours", ours],
      ] as const) {
        if (run.errors > 0) ctx.log(`    ${name}: ${run.errors} errors, first: ${run.firstError}`);
      }
      points.push({
        mode,
        clients,
        baseline: baseline.run,
        ours: ours.run,
        ratio: ours.run.opsPerSecond / baseline.run.opsPerSecond,
        locks: { baseline: baseline.locks, ours: ours.locks },
        cpu: {
          baseline: cpuPerOp(baseline.cpu, baseline.run.totalOps),
          ours: cpuPerOp(ours.cpu, ours.run.totalOps),
        },
      });
    }
  }

  const evidence = await spendEvidence(ctx, users.spread[0] ?? users.hot, users.hot);

  const table: Table = {
    title: `1. Spend throughput in process (pool ${config.poolSize}; per point ${config.seconds} s per side in ${config.rounds} alternating turns, after ${config.warmupSeconds} s warm-up)`,
    headers: [
      "case",
      "clients",
      "baseline ops/s",
      "baseline p50 ms",
      "baseline p99 ms",
      "ours ops/s",
      "ours p50 ms",
      "ours p99 ms",
      "ours/baseline",
    ],
    rows: points.map((p) => [
      p.mode === "spread" ? "1a 1,000 users" : "1b one user",
      p.clients,
      ...latencyCells(p.baseline),
      ...latencyCells(p.ours),
      `${fmt(p.ratio)}x`,
    ]),
    notes: [
      `round trips per spend: ours ${evidence.statementsPerSpend}, baseline ${evidence.baselineStatementsPerSpend} (BEGIN and COMMIT included)`,
    ],
  };
  const lockTable: Table = {
    title:
      "1. Where the time goes: CPU per spend, and backend states sampled every 100 ms (mean backends per sample)",
    headers: [
      "case",
      "clients",
      "who",
      "Node CPU ms/op",
      "PG CPU ms/op",
      "WAL bytes/op",
      "machine busy",
      "waiting on a lock",
      "idle in transaction",
      "top wait events (mean backends)",
    ],
    rows: points.flatMap((p) =>
      (["baseline", "ours"] as const).map((who) => {
        const sample = p.locks[who];
        const cpu = p.cpu[who];
        return [
          p.mode === "spread" ? "1a" : "1b",
          p.clients,
          who,
          fmt(cpu.clientMs, 3),
          cpu.databaseMs === null ? "n/a" : fmt(cpu.databaseMs, 3),
          cpu.walBytes.toLocaleString("en-US"),
          cpu.machineBusyShare === null ? "n/a" : `${fmt(cpu.machineBusyShare * 100, 0)}%`,
          fmt(sample.meanLockWaiters),
          fmt(sample.meanIdleInTransaction),
          topEvents(sample, 3),
        ];
      }),
    ),
  };

  const targets: TargetResult[] = points.map((p) =>
    ratioTarget(
      1,
      `${p.mode === "spread" ? "1a" : "1b"} ours/baseline at ${p.clients} client(s)`,
      p.ratio,
      MINIMUM_RATIO[p.mode],
    ),
  );
  return {
    tables: [table, lockTable],
    targets,
    data: {
      poolSize: config.poolSize,
      points: points.map((p) => ({
        case: p.mode === "spread" ? "1a" : "1b",
        clients: p.clients,
        baseline: summarize(p.baseline),
        ours: summarize(p.ours),
        ratio: round(p.ratio, 3),
        cpu: p.cpu,
        locks: p.locks,
      })),
    },
    evidence,
  };
}

async function spendEvidence(ctx: BenchContext, spreadUser: string, hotUser: string) {
  const counted = await recordQueries(() => ourSpend(ctx.db, spreadUser));
  const baseline = await recordQueries(() => baselineSpend(ctx.pool, spreadUser));
  const captureRolledBack = async (userId: string) => {
    const { queries } = await recordQueries(() => rolledBack(ctx.db, (tx) => ourSpend(tx, userId)));
    return explainStatements(ctx.pool, queries);
  };
  // pg_stat counters are sent by backends at transaction end and may lag by up to half a second.
  await new Promise((resolve) => setTimeout(resolve, 600));
  return {
    tableCounters: await tableCounters(ctx.pool, [
      "credit_account",
      "credit_lot",
      "credit_entry",
      "credit_allocation",
      "bench_balance",
      "bench_entry",
    ]),
    statementsPerSpend: counted.queries.length,
    statements: counted.queries.map((q) => describeStatement(q.text)),
    sql: counted.queries.map((q) => q.text.replace(/\s+/g, " ").trim()),
    baselineStatementsPerSpend: baseline.queries.length,
    baselineStatements: baseline.queries.map((q) => describeStatement(q.text)),
    explainSpreadUser: await captureRolledBack(spreadUser),
    explainHotUser: await captureRolledBack(hotUser),
    // Same spend once the planner has fresh statistics: tells a stale-statistics plan from a plan that
    // stays wrong however current the statistics are.
    explainHotUserAfterAnalyze: await (async () => {
      await analyze(ctx.pool, ["credit_entry", "credit_lot", "credit_account"]);
      return captureRolledBack(hotUser);
    })(),
  };
}

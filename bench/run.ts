/**
 * `npm run bench`: creditkit's benchmark suite against a PostgreSQL database of its own.
 * See BENCHMARKS.md for what each scenario measures, the latest results and how to reproduce them.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BenchConfig, loadBenchConfig, shouldRun } from "./lib/config";
import type { BenchContext, ScenarioOutput, SpendUsers } from "./lib/context";
import { loadAverage } from "./lib/cpu";
import {
  analyze,
  claimBenchDatabase,
  connectBench,
  createBenchDatabase,
  dropBenchDatabase,
  poolOf,
} from "./lib/database";
import { type ExplainedStatement, renderPlans } from "./lib/explain";
import { describeMachine, type MachineInfo } from "./lib/machine";
import { renderTable, type TargetResult, targetsTable } from "./lib/report";
import { seedFundedUsers } from "./lib/seed";
import { type AppServer, ensureBuild, startAppServer } from "./lib/server";
import { STRIPE_SECRET_KEY, WEBHOOK_SECRET } from "./lib/webhooks";
import { runBulkGrant } from "./scenarios/bulk-grant";
import { runExpirySweep } from "./scenarios/expiry-sweep";
import { runHistoryCost } from "./scenarios/history-cost";
import { runHistoryExport } from "./scenarios/history-export";
import { runOverviewCost } from "./scenarios/overview-cost";
import { runSpendHttp } from "./scenarios/spend-http";
import { runSpendInProcess } from "./scenarios/spend-in-process";
import { createBaselineTables } from "./scenarios/spend-operations";
import { runSpendWithAutoTopUp } from "./scenarios/spend-with-auto-top-up";
import { runWebhookIntake } from "./scenarios/webhook-intake";

const SCENARIOS: { id: number; name: string; run: (ctx: BenchContext) => Promise<ScenarioOutput> }[] = [
  { id: 1, name: "spend throughput in process", run: runSpendInProcess },
  { id: 2, name: "spend throughput over HTTP", run: runSpendHttp },
  { id: 3, name: "cost against history", run: runHistoryCost },
  { id: 4, name: "webhook intake", run: runWebhookIntake },
  { id: 5, name: "expiry sweep", run: runExpirySweep },
  { id: 6, name: "admin overview against ledger size", run: runOverviewCost },
  { id: 7, name: "bulk grant from a CSV file", run: runBulkGrant },
  { id: 8, name: "spends with alerts and auto top-up", run: runSpendWithAutoTopUp },
  { id: 9, name: "CSV export of a long history over HTTP", run: runHistoryExport },
];

/**
 * The per-key API limit, for the server and for the route handler called in this process alike: on
 * PostgreSQL both count on the same row of rate_limit_points, so they must agree on the limit.
 * It stays in the path but must never answer 429 to a benchmark.
 */
const API_LIMIT_PER_MINUTE = "1000000000";
process.env.RATE_LIMIT_API_PER_MINUTE = API_LIMIT_PER_MINUTE;

const SPREAD_USERS = 1_000;
const SPREAD_CREDITS = 10_000_000;
const HOT_CREDITS = 1_000_000_000;

const started = Date.now();
/** Set when a scenario fails: its server log is then worth keeping. */
let keepWorkDir = false;
const log = (line: string) =>
  console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

/** Undone in reverse order at the end, on failure and on Ctrl-C alike. */
const cleanups: { name: string; run: () => Promise<void> }[] = [];
let cleaningUp: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const { name, run } of cleanups.reverse()) {
      try {
        await run();
      } catch (error) {
        console.error(`cleanup "${name}" failed:`, error);
      }
    }
  })();
  return cleaningUp;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function lazy<T>(create: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= create();
    return value;
  };
}

function serverFactory(config: BenchConfig, workDir: string): () => Promise<AppServer> {
  return lazy(async () => {
    ensureBuild(config.appDir, config.rebuild, log);
    const dataDir = path.join(workDir, "app-data");
    fs.mkdirSync(dataDir, { recursive: true });
    log(`starting npm start (scripts/start.mjs) from ${config.appDir}`);
    const server = await startAppServer({
      appDir: config.appDir,
      logFile: path.join(workDir, "server.log"),
      env: {
        DATABASE_URL: config.databaseUrl,
        // Stripe mode for the webhook scenario; the server never calls Stripe to receive webhooks.
        STRIPE_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        // Stripe mode needs all three settings, or the server refuses to start; no page loads Stripe.js here.
        NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_bench",
        DATA_DIR: dataDir,
        BETTER_AUTH_SECRET: randomBytes(32).toString("hex"),
        LOG_LEVEL: config.serverLogLevel,
        // The minute sweep is measured on its own (scenario 5); pg-boss polling would only add noise.
        CREDITKIT_JOBS: "off",
        RATE_LIMIT_API_PER_MINUTE: API_LIMIT_PER_MINUTE,
      },
    });
    cleanups.push({ name: "stop server", run: server.stop });
    log(`server ready at ${server.url} (log: ${server.logFile})`);
    return server;
  });
}

function renderEvidence(outputs: Map<number, ScenarioOutput>): string {
  const parts: string[] = ["## Evidence", ""];
  const plans = (title: string, value: unknown) => {
    if (Array.isArray(value) && value.length > 0)
      parts.push(renderPlans(title, value as ExplainedStatement[]), "");
  };
  const one = outputs.get(1)?.evidence;
  if (one) {
    parts.push(
      `Statements per consumeCredits (${one.statementsPerSpend} round trips): ${(one.statements as string[]).join(" → ")}`,
      "",
      `Statements per baseline spend (${one.baselineStatementsPerSpend}): ${(one.baselineStatements as string[]).join(" → ")}`,
      "",
    );
    const counters = one.tableCounters as
      | { table: string; inserted: number; updated: number; hotUpdated: number; deadTuples: number }[]
      | undefined;
    if (counters?.length)
      parts.push(
        renderTable({
          title: "Row counters after scenario 1 (pg_stat_user_tables; autovacuum may be off)",
          headers: ["table", "inserted", "updated", "HOT updated", "HOT share", "dead tuples"],
          rows: counters.map((c) => [
            c.table,
            c.inserted,
            c.updated,
            c.hotUpdated,
            c.updated ? `${Math.round((c.hotUpdated / c.updated) * 100)}%` : "n/a",
            c.deadTuples,
          ]),
        }),
        "",
      );
    plans("1. consumeCredits, a spread user (replayed in a rolled-back transaction)", one.explainSpreadUser);
    plans("1. consumeCredits, the hot user after scenario 1b", one.explainHotUser);
    plans("1. consumeCredits, the hot user after VACUUM ANALYZE", one.explainHotUserAfterAnalyze);
  }
  const two = outputs.get(2)?.evidence?.routeStatements as
    | { statements?: string[]; error?: string }
    | undefined;
  if (two?.statements)
    parts.push(`Statements per HTTP spend (${two.statements.length}): ${two.statements.join(" → ")}`, "");
  const three = outputs.get(3)?.evidence;
  if (three) for (const [name, value] of Object.entries(three)) plans(`3. ${name}`, value);
  const four = outputs.get(4)?.evidence?.statements as { grantedStatements?: string[] } | undefined;
  if (four?.grantedStatements)
    parts.push(
      `Statements per new webhook event (${four.grantedStatements.length}): ${four.grantedStatements.join(" → ")}`,
      "",
    );
  const five = outputs.get(5)?.evidence;
  if (five) {
    parts.push(`Statements in one sweep batch by kind: ${JSON.stringify(five.statementKinds)}`, "");
    plans("5. sweep batch (first statement of each kind)", five.plans);
  }
  return parts.join("\n");
}

function writeResults(
  config: BenchConfig,
  machine: MachineInfo,
  outputs: Map<number, ScenarioOutput>,
  targets: TargetResult[],
  errors: Record<number, string>,
  report: string,
  loads: Record<number, { before?: string; after?: string }>,
): string {
  const dir = path.join(config.repoDir, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  const json = {
    machine,
    config: {
      seconds: config.seconds,
      warmupSeconds: config.warmupSeconds,
      poolSize: config.poolSize,
      only: config.only ? [...config.only] : null,
      history: config.history,
      webhook: config.webhook,
      sweep: config.sweep,
      overview: config.overview,
      bulk: config.bulk,
      export: config.export,
    },
    totalSeconds: Math.round((Date.now() - started) / 1000),
    loadAverage1m5m15m: loads,
    scenarios: Object.fromEntries([...outputs].map(([id, output]) => [id, { ...output, tables: undefined }])),
    errors,
    targets,
  };
  const write = (name: string, content: string) => {
    const target = path.join(dir, name);
    fs.writeFileSync(`${target}.tmp`, content);
    fs.renameSync(`${target}.tmp`, target);
    return target;
  };
  write("latest.md", report);
  const written = write("latest.json", `${JSON.stringify(json, null, 2)}\n`);
  // The file is committed, and `biome check .` runs in CI: leave it in the repository's own format.
  const biome = path.join(config.repoDir, "node_modules", ".bin", "biome");
  if (fs.existsSync(biome)) spawnSync(biome, ["format", "--write", written], { stdio: "ignore" });
  return written;
}

async function main(): Promise<number> {
  const config = loadBenchConfig();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-bench-"));
  cleanups.push({
    name: "remove work dir",
    run: async () => {
      if (config.keep || keepWorkDir) log(`kept ${workDir} (server log)`);
      else fs.rmSync(workDir, { recursive: true, force: true });
    },
  });
  log(
    `database ${config.databaseName} on ${new URL(config.maintenanceUrl).host}; ${config.seconds} s per run after ${config.warmupSeconds} s warm-up; scenarios ${config.only ? [...config.only].join(",") : `1-${SCENARIOS.length}`}`,
  );
  const claim = await claimBenchDatabase(config);
  cleanups.push({ name: "release the database name", run: claim.release });
  await createBenchDatabase(config);
  cleanups.push({
    name: "drop database",
    run: async () => {
      if (config.keep) log(`BENCH_KEEP=1: kept database ${config.databaseName}`);
      else await dropBenchDatabase(config);
    },
  });
  const connection = await connectBench(config);
  cleanups.push({ name: "close pool", run: connection.close });
  const pool = poolOf(connection.db);
  const machine = await describeMachine(pool, config.repoDir);
  log(
    `${machine.nproc} cores, ${machine.memoryGiB} GiB, ${machine.postgres.split(" on ")[0]}, Node ${machine.node}`,
  );

  const ctx: BenchContext = {
    config,
    connection,
    db: connection.db,
    pool,
    log,
    outputs: new Map(),
    server: serverFactory(config, workDir),
    spendUsers: lazy(async (): Promise<SpendUsers> => {
      log(`seeding ${SPREAD_USERS} funded users and one hot user`);
      const spread = await seedFundedUsers(pool, "bench-spend-", SPREAD_USERS, SPREAD_CREDITS);
      const [hot] = await seedFundedUsers(pool, "bench-hot-", 1, HOT_CREDITS);
      if (!hot) throw new Error("hot user was not seeded");
      await createBaselineTables(pool, spread, SPREAD_CREDITS);
      await createBaselineTables(pool, [hot], HOT_CREDITS);
      await analyze(pool, [
        "user",
        "credit_account",
        "credit_lot",
        "credit_entry",
        "bench_balance",
        "bench_entry",
      ]);
      return { spread, hot };
    }),
  };

  const errors: Record<number, string> = {};
  /** Other work on the machine shows here: the bench itself keeps at most ~2 cores busy. */
  const loads: Record<number, { before?: string; after?: string }> = {};
  for (const scenario of SCENARIOS) {
    if (!shouldRun(config, scenario.id)) continue;
    log(`scenario ${scenario.id}: ${scenario.name} (load average ${loadAverage()})`);
    loads[scenario.id] = { before: loadAverage() };
    const scenarioStarted = Date.now();
    try {
      const output = await scenario.run(ctx);
      ctx.outputs.set(scenario.id, output);
      for (const table of output.tables) console.log(`\n${renderTable(table)}\n`);
      log(`scenario ${scenario.id} took ${((Date.now() - scenarioStarted) / 1000).toFixed(0)} s`);
      loads[scenario.id] = { ...loads[scenario.id], after: loadAverage() };
    } catch (error) {
      errors[scenario.id] = error instanceof Error ? (error.stack ?? error.message) : String(error);
      keepWorkDir = true;
      log(`scenario ${scenario.id} FAILED: ${errors[scenario.id]}`);
    }
  }

  const targets = [...ctx.outputs.values()].flatMap((output) => output.targets);
  const summary = [
    `# creditkit benchmark results`,
    "",
    `${machine.date} · ${machine.nproc} cores (${machine.cpuModel}) · ${machine.memoryGiB} GiB · ${machine.postgres.split(",")[0]} · Node ${machine.node} · commit ${machine.gitCommit?.slice(0, 10) ?? "?"}${machine.gitDirty ? " (uncommitted changes)" : ""}`,
    "",
    `PostgreSQL settings: ${Object.entries(machine.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    "",
    ...[...ctx.outputs.values()].flatMap((output) => output.tables.map((table) => `${renderTable(table)}\n`)),
    renderTable(targetsTable(targets)),
    "",
    ...Object.entries(errors).map(([id, message]) => `Scenario ${id} failed: ${message.split("\n")[0]}\n`),
    renderEvidence(ctx.outputs),
  ].join("\n");
  console.log(`\n${renderTable(targetsTable(targets))}\n`);
  const written = writeResults(config, machine, ctx.outputs, targets, errors, summary, loads);
  const missed = targets.filter((t) => !t.pass).length;
  log(
    `${targets.length - missed}/${targets.length} targets met; results in ${path.relative(config.repoDir, written)} and latest.md`,
  );

  const failed = Object.keys(errors).length > 0 || [...ctx.outputs.values()].some((output) => output.failed);
  return failed ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanUp();
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanUp();
    process.exit(1);
  });

// Aliased: the "use" prefix is not a React hook here, it points the app's getDb() at a connection.
import { useDatabaseConnection as serveFromConnection } from "@/db/client";
import { createApiKey } from "@/service-api/api-keys";
import type { BenchContext, ScenarioOutput } from "../lib/context";
import { pick } from "../lib/context";
import { type CpuUsage, startCpuMeter } from "../lib/cpu";
import { drive, type HttpRun } from "../lib/http-load";
import { type RunResult, runClosedLoop } from "../lib/load";
import { type LockSample, startLockSampler } from "../lib/lock-sampler";
import { describeStatement, recordQueries } from "../lib/query-log";
import { fmt, ratioTarget, type Table, type TargetResult } from "../lib/report";
import { round } from "../lib/stats";
import { summarize, topEvents } from "../lib/summaries";
import { routeBreakdown } from "./route-breakdown";
import { SPEND_CONCURRENCY } from "./spend-in-process";
import { baselineSpend } from "./spend-operations";

/**
 * 1 and 8 connections show what group commit (src/service-api/api-spend-batches.ts) costs in latency when
 * there is little to group; 16 and 64 are the loaded points the target applies to.
 */
export const HTTP_CONNECTIONS = [1, 8, 16, 64] as const;
const TARGET_CONNECTIONS: readonly number[] = [16, 64];
/**
 * The service API's spend over HTTP, spread over users, against the raw one-transaction-per-spend baseline
 * of 1a (the least SQL a spend needs, in process): the target the restructuring issue sets.
 */
const MINIMUM_RATIO_TO_RAW = 0.6;

type RouteCall = (userId: string, idempotencyKey: string) => Promise<Response>;

/**
 * The consume route handler called in this process against the bench database: the same code `npm start`
 * runs, minus the HTTP server. Null (with the reason) when the module cannot be loaded here.
 */
async function loadRoute(ctx: BenchContext, apiKey: string): Promise<RouteCall | string> {
  try {
    serveFromConnection(ctx.connection);
    const { default: consume } = await import("@/routes/v1/consume");
    return async (userId, idempotencyKey) =>
      consume.handler(
        new Request(`http://127.0.0.1/api/v1/users/${encodeURIComponent(userId)}/consume`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${apiKey}`,
            "content-type": "application/json",
            "idempotency-key": idempotencyKey,
          },
          body: JSON.stringify({ amount: 1 }),
        }),
        { params: Promise.resolve({ userId }) },
      );
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The statements behind one HTTP spend. */
async function countRouteStatements(route: RouteCall | string, userId: string) {
  if (typeof route === "string") return { error: route };
  try {
    await route(userId, `bench-route-warm-${Date.now()}`);
    const { result, queries } = await recordQueries(() => route(userId, `bench-route-${Date.now()}`));
    if (result.status !== 200) return { error: `route answered ${result.status}` };
    return {
      statementsPerRequest: queries.length,
      statements: queries.map((q) => describeStatement(q.text)),
    };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The best raw baseline throughput of 1a in this run (one transaction per spend, the least SQL, in process);
 * measured here when scenario 1 was not selected.
 */
async function referenceOps(
  ctx: BenchContext,
): Promise<{ opsPerSecond: number; clients: number; source: string }> {
  const earlier = ctx.outputs.get(1)?.data.points as
    | { case: string; clients: number; baseline: { opsPerSecond: number } }[]
    | undefined;
  let candidates = earlier
    ?.filter((point) => point.case === "1a")
    .map((point) => ({ clients: point.clients, opsPerSecond: point.baseline.opsPerSecond }));
  let source = "scenario 1a of this run";
  if (!candidates?.length) {
    const users = await ctx.spendUsers();
    candidates = [];
    for (const clients of SPEND_CONCURRENCY) {
      ctx.log(`  2: reference 1a run at ${clients} client(s) (scenario 1 not selected)`);
      const run = await runClosedLoop({
        concurrency: clients,
        seconds: ctx.config.seconds,
        warmupSeconds: ctx.config.warmupSeconds,
        operation: () => baselineSpend(ctx.pool, pick(users.spread)),
      });
      candidates.push({ clients, opsPerSecond: summarize(run).opsPerSecond });
    }
    source = "1a's raw baseline measured inside scenario 2 (scenario 1 not selected)";
  }
  const best = candidates.reduce((a, b) => (b.opsPerSecond > a.opsPerSecond ? b : a));
  return { ...best, source };
}

type MeasuredRun = HttpRun & { locks: LockSample; cpu: CpuUsage };

const perRequest = (ms: number | null, requests: number) =>
  ms === null ? "n/a" : fmt(ms / Math.max(1, requests), 2);

export async function runSpendHttp(ctx: BenchContext): Promise<ScenarioOutput> {
  const { config, db, pool } = ctx;
  const users = await ctx.spendUsers();
  const { key } = await createApiKey(db, "bench", { userId: null, label: "bench" });
  const server = await ctx.server();
  const reference = await referenceOps(ctx);
  const route = await loadRoute(ctx, key);
  const routeStatements = await countRouteStatements(route, users.spread[0] ?? users.hot);
  const base = { url: server.url, apiKey: key, users: users.spread };

  const measured = async (options: Parameters<typeof drive>[0]): Promise<MeasuredRun> => {
    const sampler = startLockSampler(config.databaseUrl, config.databaseName, 100);
    const meter = await startCpuMeter(pool, config.databaseName, server.processGroup);
    const run = await drive(options);
    const cpu = await meter.stop();
    return { ...run, cpu, locks: await sampler.stop() };
  };

  const warmup = Math.max(2, config.warmupSeconds);
  ctx.log(`  2: warm-up ${warmup} s at 16 connections`);
  await drive({ ...base, connections: 16, seconds: warmup, keyPrefix: "warm" });
  await drive({
    ...base,
    connections: 16,
    seconds: 1,
    keyPrefix: "warm-get",
    getPath: "/api/credits/packages",
  });

  const runs: (MeasuredRun & { ratio: number })[] = [];
  for (const connections of HTTP_CONNECTIONS) {
    ctx.log(`  2: ${connections} connections for ${config.seconds} s`);
    const run = await measured({
      ...base,
      connections,
      seconds: config.seconds,
      keyPrefix: `c${connections}`,
    });
    runs.push({ ...run, ratio: run.requestsPerSecond / reference.opsPerSecond });
  }
  // What the HTTP stack alone costs here: a route that answers static JSON and touches no database.
  const ceilingSeconds = Math.max(2, config.seconds / 2);
  ctx.log(
    `  2: reference: GET /api/credits/packages (no database) at 16 connections for ${ceilingSeconds} s`,
  );
  const ceiling = await measured({
    ...base,
    connections: 16,
    seconds: ceilingSeconds,
    keyPrefix: "get",
    getPath: "/api/credits/packages",
  });

  // The same handler without Next.js's HTTP stack: what the route itself costs.
  let inProcess: (RunResult & { cpu: CpuUsage }) | undefined;
  if (typeof route !== "string") {
    ctx.log(`  2: reference: the route handler called in process, 16 clients for ${ceilingSeconds} s`);
    let sequence = 0;
    const meter = await startCpuMeter(pool, config.databaseName);
    const run = await runClosedLoop({
      concurrency: 16,
      seconds: ceilingSeconds,
      warmupSeconds: config.warmupSeconds,
      operation: async () => {
        sequence += 1;
        const response = await route(pick(users.spread), `inproc-${sequence}`);
        if (response.status !== 200)
          throw new Error(`route answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      },
      bailOnError: true,
    });
    if (run.errors > 0) ctx.log(`  2: the in-process route failed: ${run.firstError}`);
    inProcess = { ...run, cpu: await meter.stop() };
  }

  ctx.log("  2: the route beside its parts, one call at a time");
  const breakdown = await routeBreakdown(ctx, {
    apiKey: key,
    users: users.spread,
    route: typeof route === "string" ? null : route,
    seconds: Math.max(0.5, config.seconds / 5),
  });

  const row = (label: string, r: MeasuredRun, ratio: string) => [
    label,
    r.connections,
    fmt(r.requestsPerSecond, 0),
    fmt(r.latency.p50),
    fmt(r.latency.p99),
    r.non2xx + r.errors,
    perRequest(r.cpu.serverMs, r.ok),
    perRequest(r.cpu.databaseMs, r.ok),
    perRequest(r.cpu.clientMs, r.ok),
    ratio,
  ];
  const table: Table = {
    title: `2. Spend over HTTP: POST /api/v1/users/{id}/consume on npm start (app pool 10), autocannon, ${config.seconds} s per point`,
    headers: [
      "request",
      "connections",
      "req/s (2xx)",
      "p50 ms",
      "p99 ms",
      "non-2xx + errors",
      "server CPU ms/req",
      "PG CPU ms/req",
      "autocannon CPU ms/req",
      `HTTP / best raw 1a (${fmt(reference.opsPerSecond, 0)} ops/s)`,
    ],
    rows: [
      ...runs.map((r) => row("POST consume", r, `${fmt(r.ratio)}x`)),
      row(
        "GET /api/credits/packages (no DB, reference)",
        ceiling,
        `${fmt(ceiling.requestsPerSecond / reference.opsPerSecond)}x`,
      ),
      ...(inProcess && inProcess.errors === 0
        ? [
            [
              "route handler in process (no HTTP, reference)",
              16,
              fmt(inProcess.opsPerSecond, 0),
              fmt(inProcess.latency.p50),
              fmt(inProcess.latency.p99),
              inProcess.errors,
              `${perRequest(inProcess.cpu.clientMs, inProcess.totalOps)} (bench process)`,
              perRequest(inProcess.cpu.databaseMs, inProcess.totalOps),
              "-",
              `${fmt(inProcess.opsPerSecond / reference.opsPerSecond)}x`,
            ],
          ]
        : []),
    ],
    notes: [
      `best raw 1a: ${fmt(reference.opsPerSecond, 0)} ops/s at ${reference.clients} clients (${reference.source})`,
      "statementsPerRequest" in routeStatements
        ? `round trips per HTTP spend (route handler, counted in process): ${routeStatements.statementsPerRequest}`
        : `round trips per HTTP spend: not counted (${routeStatements.error})`,
      `backend states at ${runs.at(-1)?.connections} connections: ${runs.at(-1) ? topEvents(runs.at(-1)!.locks, 4) : ""}`,
    ],
  };
  const targets: TargetResult[] = runs
    .filter((r) => TARGET_CONNECTIONS.includes(r.connections))
    .map((r) =>
      ratioTarget(
        2,
        `2 HTTP req/s / best raw 1a at ${r.connections} connections`,
        r.ratio,
        MINIMUM_RATIO_TO_RAW,
      ),
    );
  const summarizeRun = (r: MeasuredRun) => ({
    connections: r.connections,
    seconds: round(r.seconds, 2),
    ok: r.ok,
    requestsPerSecond: round(r.requestsPerSecond, 1),
    p50Ms: round(r.latency.p50, 3),
    p99Ms: round(r.latency.p99, 3),
    maxMs: round(r.latency.max, 3),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: r.statusCodes,
    cpuMsPerRequest: {
      server: r.cpu.serverMs === null ? null : round(r.cpu.serverMs / Math.max(1, r.ok), 3),
      database: r.cpu.databaseMs === null ? null : round(r.cpu.databaseMs / Math.max(1, r.ok), 3),
      autocannon: round(r.cpu.clientMs / Math.max(1, r.ok), 3),
    },
    machineBusyShare: r.cpu.machineBusyShare,
    locks: r.locks,
  });
  return {
    tables: [table, breakdown.table],
    targets,
    data: {
      routeBreakdown: breakdown.parts,
      reference: { ...reference, opsPerSecond: round(reference.opsPerSecond, 1) },
      runs: runs.map((r) => ({ ...summarizeRun(r), ratioToBestRaw1a: round(r.ratio, 3) })),
      noDatabaseRoute: summarizeRun(ceiling),
      routeInProcess: inProcess?.errors
        ? { failed: inProcess.firstError }
        : inProcess
          ? {
              ...summarize(inProcess),
              cpuMsPerRequest: {
                node: round(inProcess.cpu.clientMs / Math.max(1, inProcess.totalOps), 3),
                database:
                  inProcess.cpu.databaseMs === null
                    ? null
                    : round(inProcess.cpu.databaseMs / Math.max(1, inProcess.totalOps), 3),
              },
            }
          : null,
    },
    evidence: { routeStatements },
  };
}

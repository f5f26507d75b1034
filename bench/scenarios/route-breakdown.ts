import { authenticateApiKey } from "@/service-api/api-keys";
import type { BenchContext } from "../lib/context";
import { pick } from "../lib/context";
import { recordQueries } from "../lib/query-log";
import { fmt, type Table } from "../lib/report";
import { LatencyRecorder, nowMs, round } from "../lib/stats";
import { ourSpend } from "./spend-operations";

export type Part = {
  name: string;
  /** Set when the piece failed (e.g. the code under test is mid-edit): its numbers are then absent. */
  failed?: string;
  roundTrips: number;
  calls: number;
  wallP50Ms: number;
  wallMeanMs: number;
  nodeCpuMs: number;
};

/**
 * The consume route beside its parts: a bare `SELECT 1` (the price of one round trip on this machine),
 * the API-key check and the spend, each called alone, one at a time, for a fixed time, with their round
 * trips, wall time and Node CPU; the difference to the whole handler is the route's own wrapping.
 */
export async function routeBreakdown(
  ctx: BenchContext,
  options: {
    apiKey: string;
    users: readonly string[];
    route: ((userId: string, idempotencyKey: string) => Promise<Response>) | null;
    seconds: number;
  },
): Promise<{ parts: Part[]; table: Table }> {
  const { db, pool } = ctx;
  let sequence = 0;
  const next = () => `breakdown-${process.pid}-${++sequence}`;
  // Only pieces with a stable public shape: the route's own composition changes as src/ evolves, and its
  // statement list (counted separately) says what it runs.
  const pieces: { name: string; run: () => Promise<unknown> }[] = [
    { name: "SELECT 1 (a bare round trip)", run: () => pool.query("SELECT 1") },
    { name: "authenticateApiKey", run: () => authenticateApiKey(db, options.apiKey) },
    { name: "consumeCredits", run: () => ourSpend(db, pick(options.users)) },
  ];
  const route = options.route;
  if (route)
    pieces.push({
      name: "the whole route handler (in process)",
      run: async () => {
        const response = await route(pick(options.users), next());
        if (response.status !== 200) throw new Error(`route answered ${response.status}`);
        return response.arrayBuffer();
      },
    });

  const parts: Part[] = [];
  for (const piece of pieces) {
    try {
      parts.push({ name: piece.name, ...(await measurePiece(piece.run, options.seconds)) });
    } catch (error) {
      const failed = error instanceof Error ? error.message : String(error);
      ctx.log(`  2: breakdown piece "${piece.name}" failed: ${failed}`);
      parts.push({
        name: piece.name,
        failed,
        roundTrips: 0,
        calls: 0,
        wallP50Ms: Number.NaN,
        wallMeanMs: Number.NaN,
        nodeCpuMs: Number.NaN,
      });
    }
  }
  const table: Table = {
    title: "2. The consume route beside its parts (in process, one call at a time)",
    headers: ["piece", "round trips", "calls", "wall p50 ms", "wall mean ms", "Node CPU ms/call"],
    rows: parts.map((p) => [
      p.name,
      p.roundTrips,
      p.calls,
      fmt(p.wallP50Ms, 3),
      fmt(p.wallMeanMs, 3),
      fmt(p.nodeCpuMs, 3),
    ]),
  };
  return { parts, table };
}

async function measurePiece(run: () => Promise<unknown>, seconds: number): Promise<Omit<Part, "name">> {
  const { queries } = await recordQueries(run);
  const recorder = new LatencyRecorder();
  // A short unmeasured spell first: JIT and plan caches.
  const warmUntil = nowMs() + 200;
  while (nowMs() < warmUntil) await run();
  const cpuStart = process.cpuUsage();
  const stopAt = nowMs() + seconds * 1000;
  while (nowMs() < stopAt) {
    const began = nowMs();
    await run();
    recorder.record(nowMs() - began);
  }
  const cpu = process.cpuUsage(cpuStart);
  const summary = recorder.summary();
  return {
    roundTrips: queries.length,
    calls: summary.count,
    wallP50Ms: round(summary.p50, 3),
    wallMeanMs: round(summary.mean, 3),
    nodeCpuMs: round((cpu.user + cpu.system) / 1000 / Math.max(1, summary.count), 3),
  };
}

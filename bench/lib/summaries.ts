import type { CpuUsage } from "./cpu";
import type { RunResult } from "./load";
import type { LockSample } from "./lock-sampler";
import { fmt } from "./report";
import { round } from "./stats";

export function topEvents(sample: LockSample, n: number): string {
  return Object.entries(sample.byWaitEvent)
    .slice(0, n)
    .map(([event, total]) => `${event} ${fmt(total / Math.max(1, sample.samples), 1)}`)
    .join(", ");
}

export function summarize(run: RunResult) {
  return {
    ops: run.ops,
    seconds: round(run.seconds, 3),
    opsPerSecond: round(run.opsPerSecond, 1),
    p50Ms: round(run.latency.p50, 3),
    p99Ms: round(run.latency.p99, 3),
    meanMs: round(run.latency.mean, 3),
    maxMs: round(run.latency.max, 3),
    errors: run.errors,
    ...(run.firstError ? { firstError: run.firstError } : {}),
  };
}

/**
 * Counts the statements of one spend (each a round trip) and replays them under EXPLAIN (ANALYZE, BUFFERS)
 * inside a rolled-back transaction, for a spread user and for the hot user after its many spends.
 */

/** Per operation: CPU of the client (Node) side and of the database backends, and WAL written. */
export type CpuPerOp = {
  clientMs: number;
  databaseMs: number | null;
  walBytes: number;
  machineBusyShare: number | null;
};

export function cpuPerOp(cpu: CpuUsage & { walBytes: number }, ops: number): CpuPerOp {
  const n = Math.max(1, ops);
  return {
    clientMs: round(cpu.clientMs / n, 4),
    databaseMs: cpu.databaseMs === null ? null : round(cpu.databaseMs / n, 4),
    walBytes: Math.round(cpu.walBytes / n),
    machineBusyShare: cpu.machineBusyShare === null ? null : round(cpu.machineBusyShare, 3),
  };
}

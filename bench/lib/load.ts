import { setTimeout as sleep } from "node:timers/promises";
import { LatencyRecorder, type LatencySummary, nowMs } from "./stats";

export type RunResult = {
  /** Operations that started after the warm-up and completed. */
  ops: number;
  /** Every completed operation, warm-up included: what CPU used over the whole run is divided by. */
  totalOps: number;
  errors: number;
  firstError?: string;
  seconds: number;
  opsPerSecond: number;
  latency: LatencySummary;
};

/**
 * Closed loop: `concurrency` workers each run `operation` back to back for warm-up + measured time.
 * Only operations that start inside the measured window count, so the warm-up and the window are one
 * continuous run (no cold restart between them); throughput is counted over the window until the last
 * counted operation completes.
 */
export async function runClosedLoop(options: {
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  operation: (worker: number) => Promise<void>;
  /** Pass one to pool the latencies of several runs (interleaved rounds); `latency` then covers them all. */
  recorder?: LatencyRecorder;
  /** Stop the whole run at the first failure (an operation that fails every time would only flood logs). */
  bailOnError?: boolean;
}): Promise<RunResult> {
  const recorder = options.recorder ?? new LatencyRecorder();
  const recordedBefore = recorder.count;
  const start = nowMs();
  const measureFrom = start + options.warmupSeconds * 1000;
  let stopAt = measureFrom + options.seconds * 1000;
  let errors = 0;
  let firstError: string | undefined;
  let lastEnd = measureFrom;
  let totalOps = 0;
  const worker = async (index: number) => {
    while (nowMs() < stopAt) {
      const began = nowMs();
      try {
        await options.operation(index);
        const ended = nowMs();
        totalOps += 1;
        if (began >= measureFrom) {
          recorder.record(ended - began);
          lastEnd = Math.max(lastEnd, ended);
        }
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (options.bailOnError) stopAt = 0;
        // A failing operation must not turn the loop into a busy spin.
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => worker(index)));
  const seconds = (lastEnd - measureFrom) / 1000;
  const latency = recorder.summary();
  const ops = latency.count - recordedBefore;
  return {
    ops,
    totalOps,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds,
    opsPerSecond: seconds > 0 ? ops / seconds : 0,
    latency,
  };
}

/** Sums the runs of one variant across interleaved rounds (their recorder was shared). */
export function combineRuns(runs: readonly RunResult[]): RunResult {
  const last = runs.at(-1);
  if (!last) throw new Error("no runs to combine");
  const ops = runs.reduce((sum, run) => sum + run.ops, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const firstError = runs.find((run) => run.firstError)?.firstError;
  return {
    ops,
    totalOps: runs.reduce((sum, run) => sum + run.totalOps, 0),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    ...(firstError ? { firstError } : {}),
    seconds,
    opsPerSecond: seconds > 0 ? ops / seconds : 0,
    latency: last.latency,
  };
}

/**
 * Open loop at a fixed arrival rate, until `until()` turns true (checked at every arrival) or `seconds`
 * pass. Latency is measured from each operation's scheduled start, so a stall delays every operation
 * scheduled behind it and shows up in the percentiles (no coordinated omission).
 */
export async function runFixedRate(options: {
  ratePerSecond: number;
  seconds?: number;
  until?: () => boolean;
  maxInFlight: number;
  operation: () => Promise<void>;
}): Promise<RunResult & { skipped: number }> {
  const recorder = new LatencyRecorder();
  const interval = 1000 / options.ratePerSecond;
  const start = nowMs();
  const stopAt = options.seconds === undefined ? Number.POSITIVE_INFINITY : start + options.seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  let errors = 0;
  let skipped = 0;
  let firstError: string | undefined;
  let scheduled = start;
  while (scheduled < stopAt && !(options.until?.() ?? false)) {
    const wait = scheduled - nowMs();
    if (wait > 0) await sleep(wait);
    if (inFlight.size >= options.maxInFlight) {
      // The system is far behind: count it rather than piling up unbounded work.
      skipped += 1;
    } else {
      const due = scheduled;
      const task = options
        .operation()
        .then(() => recorder.record(nowMs() - due))
        .catch((error: unknown) => {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    scheduled += interval;
  }
  await Promise.all(inFlight);
  const seconds = (nowMs() - start) / 1000;
  const latency = recorder.summary();
  return {
    ops: latency.count,
    totalOps: latency.count,
    errors,
    skipped,
    ...(firstError ? { firstError } : {}),
    seconds,
    opsPerSecond: seconds > 0 ? latency.count / seconds : 0,
    latency,
  };
}

import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";

export type LockSample = {
  samples: number;
  /** Mean number of the bench database's backends waiting on a heavyweight lock per sample. */
  meanLockWaiters: number;
  maxLockWaiters: number;
  /** Share of samples in which at least one backend waited on a lock. */
  shareWithWaiters: number;
  /** Mean number of backends active (running a statement, or waiting) per sample. */
  meanActive: number;
  /** Mean number of backends idle inside an open transaction: a transaction waiting on its client. */
  meanIdleInTransaction: number;
  /** Ungranted pg_locks rows by lock type, summed over all samples. */
  ungrantedByLockType: Record<string, number>;
  /** Non-idle backends by wait event (e.g. Lock:transactionid, IO:WALSync, Client:ClientRead), summed. */
  byWaitEvent: Record<string, number>;
};

/**
 * Samples pg_stat_activity and pg_locks for one database on a connection of its own (so it never takes
 * a slot in the measured pool) until stopped.
 */
export function startLockSampler(url: string, databaseName: string, intervalMs = 50) {
  const client = new pg.Client({ connectionString: url });
  // Dropping the database at shutdown (WITH FORCE) ends this connection: that must not crash the bench.
  client.on("error", () => {});
  let running = true;
  const totals = {
    samples: 0,
    waiters: 0,
    maxWaiters: 0,
    withWaiters: 0,
    active: 0,
    idleInTransaction: 0,
    ungranted: {} as Record<string, number>,
    events: {} as Record<string, number>,
  };
  const loop = (async () => {
    await client.connect();
    while (running) {
      const activity = await client.query<{ state: string; event: string; n: string }>(
        `SELECT state, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS event, count(*) AS n
         FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'
         GROUP BY 1, 2`,
        [databaseName],
      );
      const locks = await client.query<{ locktype: string; n: string }>(
        `SELECT l.locktype, count(*) AS n FROM pg_locks l
         JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE NOT l.granted AND a.datname = $1 GROUP BY 1`,
        [databaseName],
      );
      let waiters = 0;
      for (const row of activity.rows) {
        const n = Number(row.n);
        if (row.state === "idle in transaction") totals.idleInTransaction += n;
        else totals.active += n;
        if (row.event.startsWith("Lock:")) waiters += n;
        const key = row.state === "idle in transaction" ? "idle in transaction" : row.event;
        totals.events[key] = (totals.events[key] ?? 0) + n;
      }
      for (const row of locks.rows)
        totals.ungranted[row.locktype] = (totals.ungranted[row.locktype] ?? 0) + Number(row.n);
      totals.samples += 1;
      totals.waiters += waiters;
      totals.maxWaiters = Math.max(totals.maxWaiters, waiters);
      if (waiters > 0) totals.withWaiters += 1;
      await sleep(intervalMs);
    }
    // A sampler that loses its connection just stops sampling; the run it watches goes on.
  })().catch(() => {});
  return {
    async stop(): Promise<LockSample> {
      running = false;
      await loop;
      await client.end().catch(() => {});
      const n = Math.max(1, totals.samples);
      return {
        samples: totals.samples,
        meanLockWaiters: totals.waiters / n,
        maxLockWaiters: totals.maxWaiters,
        shareWithWaiters: totals.withWaiters / n,
        meanActive: totals.active / n,
        meanIdleInTransaction: totals.idleInTransaction / n,
        ungrantedByLockType: totals.ungranted,
        byWaitEvent: Object.fromEntries(Object.entries(totals.events).sort((a, b) => b[1] - a[1])),
      };
    },
  };
}

/** Pools samples taken over several runs, weighting each run by its number of samples. */
export function mergeLockSamples(samples: readonly LockSample[]): LockSample {
  const total = samples.reduce((sum, s) => sum + s.samples, 0);
  const weighted = (pick: (s: LockSample) => number) =>
    samples.reduce((sum, s) => sum + pick(s) * s.samples, 0) / Math.max(1, total);
  const sumMaps = (pick: (s: LockSample) => Record<string, number>) => {
    const merged: Record<string, number> = {};
    for (const s of samples) for (const [k, v] of Object.entries(pick(s))) merged[k] = (merged[k] ?? 0) + v;
    return Object.fromEntries(Object.entries(merged).sort((a, b) => b[1] - a[1]));
  };
  return {
    samples: total,
    meanLockWaiters: weighted((s) => s.meanLockWaiters),
    maxLockWaiters: Math.max(0, ...samples.map((s) => s.maxLockWaiters)),
    shareWithWaiters: weighted((s) => s.shareWithWaiters),
    meanActive: weighted((s) => s.meanActive),
    meanIdleInTransaction: weighted((s) => s.meanIdleInTransaction),
    ungrantedByLockType: sumMaps((s) => s.ungrantedByLockType),
    byWaitEvent: sumMaps((s) => s.byWaitEvent),
  };
}

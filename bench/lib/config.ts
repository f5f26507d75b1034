import path from "node:path";
import { z } from "zod";

const DEFAULT_MAINTENANCE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

const positive = (fallback: number) => z.coerce.number().positive().default(fallback);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z
  .string()
  .optional()
  .transform((value) => value === "1" || value === "true");

/** Scenarios are numbered 1 to this (bench/run.ts, SCENARIOS). */
export const LAST_SCENARIO = 9;

const benchEnvSchema = z.object({
  /** A database the bench may connect to in order to create and drop its own. */
  BENCH_DATABASE_URL: z.string().startsWith("postgres").default(DEFAULT_MAINTENANCE_URL),
  BENCH_DB_NAME: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "lower-case letters, digits and _ only")
    .default("creditkit_bench"),
  /** Measured seconds per run (each throughput point, each read series). */
  BENCH_SECONDS: positive(5),
  /** Unmeasured seconds before each run: JIT, pool connections, plan caches, buffer cache. */
  BENCH_WARMUP_SECONDS: positive(1),
  /** e.g. "1,3": only these scenarios. */
  /**
   * Scenario 1 splits each point's BENCH_SECONDS into this many alternating baseline/ours turns, so a
   * burst of other work on a shared machine lands on both sides instead of on one.
   */
  BENCH_ROUNDS: count(3),
  BENCH_ONLY: z.string().optional(),
  BENCH_KEEP: flag,
  /** pg.Pool size for in-process scenarios; the app's own default (src/db/connect.ts) is 10. */
  BENCH_POOL_SIZE: count(10),
  /** Where the Next.js app is built and started from; the repository root unless told otherwise. */
  BENCH_APP_DIR: z.string().optional(),
  /** Rebuild the app even when .next/BUILD_ID exists. */
  BENCH_REBUILD: flag,
  BENCH_SERVER_LOG_LEVEL: z.string().default("info"),
  BENCH_HISTORY_ENTRIES: count(1_000_000),
  BENCH_HISTORY_LOTS: count(1_000),
  BENCH_WEBHOOK_EVENTS: count(2_000),
  BENCH_WEBHOOK_DUPLICATE_SHARE: z.coerce.number().min(0).max(0.9).default(0.2),
  BENCH_SWEEP_LOTS: count(100_000),
  BENCH_SWEEP_USERS: count(10_000),
  /** Spends per second issued while the sweep runs (and in its baseline), on an open-loop schedule. */
  BENCH_SWEEP_SPEND_RATE: count(200),
  /** Scenario 6: the admin overview over a ledger of this many entries, against one of the small size. */
  BENCH_OVERVIEW_ENTRIES: count(10_000_000),
  BENCH_OVERVIEW_SMALL_ENTRIES: count(1_000),
  /** Rows of the bulk-grant file (scenario 7), and the single grants of its baseline. */
  BENCH_BULK_ROWS: count(100_000),
  BENCH_BULK_SINGLE_GRANTS: count(5_000),
  /** Scenario 9: the CSV export of one user's history of this many entries, beside one of a tenth of it. */
  BENCH_EXPORT_ENTRIES: count(1_000_000),
});

export type BenchConfig = {
  maintenanceUrl: string;
  databaseName: string;
  databaseUrl: string;
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  only: ReadonlySet<number> | null;
  keep: boolean;
  poolSize: number;
  repoDir: string;
  appDir: string;
  rebuild: boolean;
  serverLogLevel: string;
  history: { entries: number; lots: number };
  webhook: { events: number; duplicateShare: number };
  sweep: { lots: number; users: number; spendRate: number };
  overview: { entries: number; smallEntries: number };
  bulk: { rows: number; singleGrants: number };
  export: { entries: number };
};

/** Parsed once at start; a bad value stops the bench with a message naming the variable. */
export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const parsed = benchEnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid bench configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  const only = e.BENCH_ONLY?.trim()
    ? new Set(
        e.BENCH_ONLY.split(",")
          .map((part) => Number(part.trim()))
          .filter((n) => Number.isInteger(n) && n >= 1 && n <= LAST_SCENARIO),
      )
    : null;
  if (only && only.size === 0) throw new Error(`BENCH_ONLY names no scenario between 1 and ${LAST_SCENARIO}`);
  if (e.BENCH_SWEEP_LOTS < e.BENCH_SWEEP_USERS)
    throw new Error("BENCH_SWEEP_LOTS must be >= BENCH_SWEEP_USERS");
  const databaseUrl = new URL(e.BENCH_DATABASE_URL);
  databaseUrl.pathname = `/${e.BENCH_DB_NAME}`;
  const repoDir = process.cwd();
  return {
    maintenanceUrl: e.BENCH_DATABASE_URL,
    databaseName: e.BENCH_DB_NAME,
    databaseUrl: databaseUrl.toString(),
    seconds: e.BENCH_SECONDS,
    warmupSeconds: e.BENCH_WARMUP_SECONDS,
    rounds: e.BENCH_ROUNDS,
    only,
    keep: e.BENCH_KEEP,
    poolSize: e.BENCH_POOL_SIZE,
    repoDir,
    appDir: path.resolve(e.BENCH_APP_DIR ?? repoDir),
    rebuild: e.BENCH_REBUILD,
    serverLogLevel: e.BENCH_SERVER_LOG_LEVEL,
    history: { entries: e.BENCH_HISTORY_ENTRIES, lots: e.BENCH_HISTORY_LOTS },
    webhook: { events: e.BENCH_WEBHOOK_EVENTS, duplicateShare: e.BENCH_WEBHOOK_DUPLICATE_SHARE },
    sweep: { lots: e.BENCH_SWEEP_LOTS, users: e.BENCH_SWEEP_USERS, spendRate: e.BENCH_SWEEP_SPEND_RATE },
    overview: { entries: e.BENCH_OVERVIEW_ENTRIES, smallEntries: e.BENCH_OVERVIEW_SMALL_ENTRIES },
    bulk: { rows: e.BENCH_BULK_ROWS, singleGrants: e.BENCH_BULK_SINGLE_GRANTS },
    export: { entries: e.BENCH_EXPORT_ENTRIES },
  };
}

export function shouldRun(config: BenchConfig, scenario: number): boolean {
  return config.only === null || config.only.has(scenario);
}

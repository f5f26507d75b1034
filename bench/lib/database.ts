import pg from "pg";
import { connectDatabase, type DatabaseConnection } from "@/db/connect";
import type { Database } from "@/db/types";
import type { BenchConfig } from "./config";

/** The pg.Pool under a Drizzle handle made by connectDatabase: the baseline runs on the very same pool. */
export function poolOf(db: Database): pg.Pool {
  const client = (db as unknown as { $client?: unknown }).$client;
  if (!(client instanceof pg.Pool)) throw new Error("this Drizzle handle is not backed by a pg.Pool");
  return client;
}

async function withMaintenanceClient<T>(config: BenchConfig, run: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: config.maintenanceUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * Claims the bench database's name for this run: a session advisory lock on the maintenance database, held
 * until `release` (or until this process dies and its connection closes). A second run against the same
 * server and name would otherwise drop the first run's database in the middle of it.
 */
export async function claimBenchDatabase(config: BenchConfig): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: config.maintenanceUrl });
  client.on("error", () => {});
  await client.connect();
  const { rows } = await client.query<{ claimed: boolean }>(
    "SELECT pg_try_advisory_lock(hashtext('creditkit-bench:' || $1)) AS claimed",
    [config.databaseName],
  );
  if (!rows[0]?.claimed) {
    await client.end();
    throw new Error(
      `another bench run is using the database ${config.databaseName} on this server; wait for it or set BENCH_DB_NAME`,
    );
  }
  return { release: () => client.end() };
}

/** Drops any leftover bench database (a killed earlier run) and creates an empty one. */
export async function createBenchDatabase(config: BenchConfig): Promise<void> {
  await withMaintenanceClient(config, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${config.databaseName}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${config.databaseName}"`);
  });
}

export async function dropBenchDatabase(config: BenchConfig): Promise<void> {
  await withMaintenanceClient(config, (client) =>
    client.query(`DROP DATABASE IF EXISTS "${config.databaseName}" WITH (FORCE)`),
  );
}

/** The app's own connection code: same pool options (timeouts) and the committed migrations. */
export function connectBench(config: BenchConfig, poolSize = config.poolSize): Promise<DatabaseConnection> {
  return connectDatabase({ kind: "postgres", url: config.databaseUrl, poolSize });
}

/**
 * Autovacuum may be off (it is on the machines this was written on) or simply not have run yet after a
 * bulk load: without statistics the planner guesses, which is not what a long-running database sees.
 */
export async function analyze(pool: pg.Pool, tables: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SET statement_timeout = 0");
    for (const table of tables) await client.query(`VACUUM ANALYZE "${table}"`);
  } finally {
    await client.query("RESET statement_timeout").catch(() => {});
    client.release();
  }
}

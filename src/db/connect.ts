import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import * as schema from "./schema";
import type { Database } from "./types";

export const migrationsFolder = path.join(process.cwd(), "src", "db", "migrations");

export type DatabaseConnection = {
  db: Database;
  kind: "pglite" | "postgres";
  close: () => Promise<void>;
};

/** Arbitrary but fixed: every process that migrates the same PostgreSQL database queues on it. */
const MIGRATION_LOCK_ID = 727_001;

export type ConnectOptions =
  | { kind: "postgres"; url: string; poolSize?: number; migrate?: boolean }
  | { kind: "pglite"; dataDir?: string; loadDataDir?: Blob; migrate?: boolean };

/**
 * Opens PostgreSQL (through `pg`) or an embedded PGlite and, unless told not to, applies the
 * committed migrations. One schema and one migration set serve both.
 */
export async function connectDatabase(options: ConnectOptions): Promise<DatabaseConnection> {
  if (options.kind === "postgres") {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // A spend that waits on a lock longer than this fails with a retryable error instead of hanging.
      options: "-c lock_timeout=5000 -c statement_timeout=15000 -c idle_in_transaction_session_timeout=30000",
      // statement_timeout is enforced by the server; these bound the waits when the server is gone or silent,
      // so a request fails with a retryable 503 instead of hanging.
      connectionTimeoutMillis: 5_000,
      query_timeout: 20_000,
      keepAlive: true,
    });
    // A client that loses its server must not crash the process, idle in the pool or checked out (pg-pool
    // stops listening on checked-out clients); the failing query reports the error, the pool reconnects.
    pool.on("error", () => {});
    pool.on("connect", (client) => {
      client.on("error", () => {});
    });
    const db = drizzlePg({ client: pool, schema, casing: "snake_case" }) as unknown as Database;
    if (options.migrate !== false) {
      const client = await pool.connect();
      try {
        await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_ID]);
        await migratePg(drizzlePg({ client, schema, casing: "snake_case" }), { migrationsFolder });
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_ID]).catch(() => {});
        client.release();
      }
    }
    return { db, kind: "postgres", close: () => pool.end() };
  }

  if (options.dataDir) fs.mkdirSync(path.dirname(options.dataDir), { recursive: true });
  const client = new PGlite({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  await client.waitReady;
  const pgliteDb = drizzlePglite({ client, schema, casing: "snake_case" });
  if (options.migrate !== false) await migratePglite(pgliteDb, { migrationsFolder });
  return { db: pgliteDb as unknown as Database, kind: "pglite", close: () => client.close() };
}

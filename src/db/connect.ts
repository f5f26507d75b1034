import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { lockDataDir } from "./data-dir-lock";
import * as schema from "./schema";
import { installSqlFunctions, MIGRATION_LOCK_ID } from "./sql-functions";
import type { Database } from "./types";

export const migrationsFolder = path.join(process.cwd(), "src", "db", "migrations");

export type DatabaseConnection = {
  db: Database;
  kind: "pglite" | "postgres";
  close: () => Promise<void>;
};

/**
 * The database could not be opened or migrated. The message says which database, why, and what to do;
 * servers print it and exit instead of listening with a database they cannot use.
 */
export class DatabaseOpenError extends Error {
  readonly code = "database_unavailable";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatabaseOpenError";
  }
}

/** The URL as it may be printed: without its password. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  return `${message.split("\n")[0]}${typeof code === "string" && !message.includes(code) ? ` (${code})` : ""}`;
}

export type ConnectOptions =
  | { kind: "postgres"; url: string; poolSize?: number; migrate?: boolean }
  | { kind: "pglite"; dataDir?: string; loadDataDir?: Blob; migrate?: boolean };

/**
 * Opens PostgreSQL (through `pg`) or an embedded PGlite and, unless told not to (`migrate: false`), applies
 * the committed migrations and then installs the ledger's SQL functions from their files
 * (src/db/sql-functions.ts). One schema, one migration set and one set of functions serve both.
 */
/**
 * The database could not be reached or stopped answering: node-postgres failed a query or a connection
 * without an answer from PostgreSQL (so without a SQLSTATE): a refused or reset connection, a connection
 * that ended, the pool's or the query's timeout. Named by its literal code, so the one error mapping
 * (src/server/http-errors.ts) answers 503 `database_unavailable` without reading messages. `cause` is the
 * driver's error.
 */
export class DatabaseUnavailableError extends Error {
  readonly code = "database_unavailable";
  constructor(cause: unknown) {
    super(`The database is unreachable: ${reasonOf(cause)}`, { cause });
    this.name = "DatabaseUnavailableError";
  }
}

/** A SQLSTATE: PostgreSQL's five-character code (Node's errno codes, such as EPIPE, start with E). */
function hasSqlState(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E");
}

/**
 * Makes every failure of `pool` that PostgreSQL did not answer (no SQLSTATE) a DatabaseUnavailableError:
 * its queries, its connections, and the queries of the clients it hands out. Errors of our own making
 * (a TypeError from bad arguments) pass unchanged. Streams and cursors are returned as they are.
 */
function reportUnreachableAsCoded(pool: pg.Pool): void {
  const rethrow = (error: unknown): never => {
    if (hasSqlState(error) || error instanceof TypeError || error instanceof RangeError) throw error;
    throw new DatabaseUnavailableError(error);
  };
  const guard = <T>(result: T): T =>
    result instanceof Promise ? (result.catch(rethrow) as unknown as T) : result;
  // The methods are looked up on the prototypes at each call, so whatever wraps them there (the bench's
  // round-trip counter) still sees every query.
  const poolPrototype = Object.getPrototypeOf(pool) as typeof pool;
  pool.query = ((...args: unknown[]) =>
    guard((poolPrototype.query as (...a: unknown[]) => unknown).apply(pool, args))) as typeof pool.query;
  // The callback form is pg-pool's own (pool.query uses it); its failures reach pool.query's promise.
  pool.connect = ((...args: unknown[]) =>
    guard((poolPrototype.connect as (...a: unknown[]) => unknown).apply(pool, args))) as typeof pool.connect;
  pool.on("connect", (client) => {
    const clientPrototype = Object.getPrototypeOf(client) as typeof client;
    client.query = ((...args: unknown[]) =>
      guard(
        (clientPrototype.query as (...a: unknown[]) => unknown).apply(client, args),
      )) as typeof client.query;
  });
}

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
    reportUnreachableAsCoded(pool);
    const db = drizzlePg({ client: pool, schema, casing: "snake_case" }) as unknown as Database;
    // The app, the CLI and the bench migrate, so they open the database here, before anyone relies on it:
    // a wrong URL, a database that does not exist or a refused login stops the start with one message
    // instead of answering 500 to every request. Without `migrate`, connections are made on first use.
    if (options.migrate !== false) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        await pool.end().catch(() => {});
        throw new DatabaseOpenError(
          `Cannot open the PostgreSQL database at DATABASE_URL (${redactedUrl(options.url)}): ${reasonOf(error)}. Check that the server runs, that the database exists (createdb), and the user, password and database name in DATABASE_URL.`,
          { cause: error },
        );
      }
      let migrationError: unknown;
      let installError: unknown;
      try {
        await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_ID]);
        await migratePg(drizzlePg({ client, schema, casing: "snake_case" }), { migrationsFolder });
        try {
          await installSqlFunctions((text) => client.query(text));
        } catch (error) {
          installError = error;
        }
      } catch (error) {
        migrationError = error;
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_ID]).catch(() => {});
        client.release();
      }
      if (migrationError !== undefined) {
        await pool.end().catch(() => {});
        throw new DatabaseOpenError(
          `Cannot apply the migrations to the PostgreSQL database at DATABASE_URL (${redactedUrl(options.url)}): ${reasonOf((migrationError as { cause?: unknown }).cause ?? migrationError)}. Check that the user may create tables and functions in it.`,
          { cause: migrationError },
        );
      }
      if (installError !== undefined) {
        await pool.end().catch(() => {});
        throw new DatabaseOpenError(
          `Cannot install the ledger's SQL functions in the PostgreSQL database at DATABASE_URL (${redactedUrl(options.url)}): ${reasonOf(installError)}. Check that the user may create functions in it.`,
          { cause: installError },
        );
      }
    }
    return { db, kind: "postgres", close: () => pool.end() };
  }

  // In memory (tests, snapshots) nothing is shared; a folder is held by one process at a time.
  const lock = options.dataDir ? lockDataDir(options.dataDir) : undefined;
  let client: PGlite | undefined;
  try {
    if (options.dataDir) fs.mkdirSync(path.dirname(options.dataDir), { recursive: true });
    client = new PGlite({
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    });
    await client.waitReady;
  } catch (error) {
    lock?.release();
    if (!options.dataDir) throw error;
    throw new DatabaseOpenError(
      `Cannot open the embedded database in ${path.resolve(options.dataDir)}: ${reasonOf(error)}. Unless that names a permission problem, the folder is damaged (opened by two processes at once, a full disk, a changed file). To recover, stop every process that uses it, move it aside (mv ${options.dataDir} ${options.dataDir}.broken) and restore it from a backup, or start again with an empty database; see "Troubleshooting the embedded database" in the README.`,
      { cause: error },
    );
  }
  const opened = client;
  const close = async () => {
    try {
      await opened.close();
    } finally {
      lock?.release();
    }
  };
  const pgliteDb = drizzlePglite({ client: opened, schema, casing: "snake_case" });
  if (options.migrate !== false) {
    try {
      await migratePglite(pgliteDb, { migrationsFolder });
    } catch (error) {
      await close().catch(() => {});
      throw new DatabaseOpenError(
        `Cannot apply the migrations to the embedded database${options.dataDir ? ` in ${path.resolve(options.dataDir)}` : ""}: ${reasonOf((error as { cause?: unknown }).cause ?? error)}.`,
        { cause: error },
      );
    }
    try {
      await installSqlFunctions((text) => opened.exec(text));
    } catch (error) {
      await close().catch(() => {});
      throw new DatabaseOpenError(
        `Cannot install the ledger's SQL functions in the embedded database${options.dataDir ? ` in ${path.resolve(options.dataDir)}` : ""}: ${reasonOf(error)}.`,
        { cause: error },
      );
    }
  }
  return { db: pgliteDb as unknown as Database, kind: "pglite", close };
}

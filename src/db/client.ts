import path from "node:path";
import { getServerEnv } from "@/config/env";
import { logger } from "@/lib/logger";
import { processSlot } from "@/lib/process-registry";
import { connectDatabase, type DatabaseConnection } from "./connect";
import type { Database } from "./types";

type Holder = { connection?: Promise<DatabaseConnection> };

// One per process (src/lib/process-registry.ts): PGlite allows one opener per folder.
const holder: Holder = processSlot<Holder>("database", () => ({}));

/**
 * The app's database: PostgreSQL through `pg` when DATABASE_URL is set, otherwise an embedded PGlite
 * kept under DATA_DIR. Migrations are applied on first use, before any query runs.
 */
export function getConnection(): Promise<DatabaseConnection> {
  holder.connection ??= (async () => {
    const env = getServerEnv();
    if (env.DATABASE_URL) {
      const connection = await connectDatabase({ kind: "postgres", url: env.DATABASE_URL });
      logger.info("database: PostgreSQL (DATABASE_URL), migrations applied");
      return connection;
    }
    const dataDir = path.resolve(env.DATA_DIR, "pglite");
    const connection = await connectDatabase({ kind: "pglite", dataDir });
    logger.info({ dataDir }, "database: embedded PGlite, migrations applied");
    return connection;
  })().catch((error: unknown) => {
    holder.connection = undefined;
    throw error;
  });
  return holder.connection;
}

export async function getDb(): Promise<Database> {
  return (await getConnection()).db;
}

/** Lets integration tests run route handlers and actions against a test database. */
export function useDatabaseConnection(connection: DatabaseConnection): void {
  holder.connection = Promise.resolve(connection);
}

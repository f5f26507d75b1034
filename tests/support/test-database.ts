import { randomBytes } from "node:crypto";
import fs from "node:fs";
import pg from "pg";
import { afterAll, afterEach, beforeAll } from "vitest";
import { connectDatabase, type DatabaseConnection } from "../../src/db/connect";
import { withDatabase } from "./global-setup";
import { assertLedgerInvariants } from "./invariants";
import { adminUrl, PGLITE_SNAPSHOT_FILE, TEMPLATE_DATABASE, testDatabaseUrl } from "./paths";

export type DatabaseKind = "pglite" | "postgres";

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set. */
export function databaseKinds(): DatabaseKind[] {
  return testDatabaseUrl() ? ["pglite", "postgres"] : ["pglite"];
}

export type TestDatabase = DatabaseConnection & { url?: string };

/** A fresh, migrated, empty database of its own for one test file (or one test). */
export async function createTestDatabase(
  kind: DatabaseKind,
  options: { poolSize?: number } = {},
): Promise<TestDatabase> {
  if (kind === "pglite") {
    const snapshot = new Blob([fs.readFileSync(PGLITE_SNAPSHOT_FILE)]);
    return connectDatabase({ kind: "pglite", loadDataDir: snapshot, migrate: false });
  }
  const url = testDatabaseUrl();
  if (!url) throw new Error("TEST_DATABASE_URL is not set");
  const name = `creditkit_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl(url) });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabase(url, name);
  const connection = await connectDatabase({
    kind: "postgres",
    url: databaseUrl,
    migrate: false,
    poolSize: options.poolSize ?? 20,
  });
  return {
    ...connection,
    url: databaseUrl,
    close: async () => {
      await connection.close();
      const dropper = new pg.Client({ connectionString: adminUrl(url) });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => dropper.end());
    },
  };
}

/**
 * One database for a suite: created before its first test, checked with `verify` after every test (a
 * test can pass and still leave the ledger inconsistent), and dropped after the last.
 */
export function useTestDatabase(
  kind: DatabaseKind,
  options: { poolSize?: number; onReady?: (database: TestDatabase) => void } = {},
): TestDatabase {
  let current: TestDatabase | undefined;
  const get = (): TestDatabase => {
    if (!current) throw new Error("the suite's database is used before beforeAll ran");
    return current;
  };
  beforeAll(async () => {
    current = await createTestDatabase(kind, options);
    options.onReady?.(current);
  });
  afterEach(async () => {
    if (current) await assertLedgerInvariants(current.db);
  });
  afterAll(async () => {
    await current?.close();
  });
  return {
    get db() {
      return get().db;
    },
    get kind() {
      return get().kind;
    },
    get url() {
      return get().url;
    },
    close: () => get().close(),
  };
}

import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import { type DatabaseKind, type TestDatabase, useTestDatabase } from "./test-database";

/** Makes `database` the app's connection and rebuilds Better Auth on it (named as the React hook rule wants). */
function useAppConnection(database: TestDatabase): void {
  useDatabaseConnection(database);
  resetAuth();
}

/**
 * useTestDatabase for a suite that calls the app's routes: the suite's database is also the app's
 * connection, with Better Auth rebuilt on it, before the first test.
 */
export function useAppDatabase(kind: DatabaseKind, options: { poolSize?: number } = {}): TestDatabase {
  return useTestDatabase(kind, { ...options, onReady: useAppConnection });
}

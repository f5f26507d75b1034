import path from "node:path";

/** The checkout the suite runs from: the server is started here, against this checkout's `.next` build. */
export const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..", "..");

/** Server output, one file per started server, kept after the run for debugging a failure. */
export const LOG_DIR = path.join(REPO_ROOT, "test-results", "faults");

/** The PostgreSQL the suite creates its databases on: TEST_DATABASE_URL's server, or the local default. */
export function postgresAdminUrl(): string {
  const base = process.env.TEST_DATABASE_URL?.trim() || "postgres://postgres@127.0.0.1:5432/postgres";
  const url = new URL(base);
  url.pathname = "/postgres";
  return url.toString();
}

export function databaseUrl(database: string, port?: number): string {
  const url = new URL(postgresAdminUrl());
  url.pathname = `/${database}`;
  if (port !== undefined) {
    url.hostname = "127.0.0.1";
    url.port = String(port);
  }
  return url.toString();
}

/**
 * Set by vitest.faults.config.mts. The main vitest.config.mts includes tests/** as well; without this
 * guard `npm test` would start production servers with no build and no fault-test global setup.
 */
export const FAULT_SUITE = process.env.CREDITKIT_FAULT_TESTS === "1";

import { createHash } from "node:crypto";
import path from "node:path";

export const PGLITE_SNAPSHOT_FILE = path.join(process.cwd(), ".data", "test", "pglite-migrated.tar.gz");
/**
 * One template per checkout: two checkouts testing against the same server at once must not drop each
 * other's template (global setup recreates it on every run).
 */
export const TEMPLATE_DATABASE = `creditkit_test_template_${createHash("sha256").update(process.cwd()).digest("hex").slice(0, 8)}`;

export function testDatabaseUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL?.trim() || undefined;
}

/** The same server, the maintenance database: where CREATE/DROP DATABASE run. */
export function adminUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = "/postgres";
  return parsed.toString();
}

import path from "node:path";

export const PGLITE_SNAPSHOT_FILE = path.join(process.cwd(), ".data", "test", "pglite-migrated.tar.gz");
export const TEMPLATE_DATABASE = "creditkit_test_template";

export function testDatabaseUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL?.trim() || undefined;
}

/** The same server, the maintenance database: where CREATE/DROP DATABASE run. */
export function adminUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = "/postgres";
  return parsed.toString();
}

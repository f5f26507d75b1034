import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { connectDatabase } from "../../src/db/connect";
import { adminUrl, PGLITE_SNAPSHOT_FILE, TEMPLATE_DATABASE, testDatabaseUrl } from "./paths";

/**
 * Migrates once per run: a PGlite snapshot every test file restores in memory, and, when
 * TEST_DATABASE_URL is set, a PostgreSQL template database every test file clones.
 */
export default async function setup(): Promise<void> {
  fs.mkdirSync(path.dirname(PGLITE_SNAPSHOT_FILE), { recursive: true });
  const embedded = await connectDatabase({ kind: "pglite" });
  const client = (embedded.db as unknown as { $client: { dumpDataDir: (c: "gzip") => Promise<Blob> } })
    .$client;
  const dump = await client.dumpDataDir("gzip");
  fs.writeFileSync(PGLITE_SNAPSHOT_FILE, Buffer.from(await dump.arrayBuffer()));
  await embedded.close();

  const url = testDatabaseUrl();
  if (!url) return;
  const admin = new pg.Client({ connectionString: adminUrl(url) });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const template = await connectDatabase({ kind: "postgres", url: withDatabase(url, TEMPLATE_DATABASE) });
  await template.close();
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

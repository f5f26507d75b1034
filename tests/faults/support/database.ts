import { randomBytes } from "node:crypto";
import pg from "pg";
import { connectDatabase, type DatabaseConnection } from "@/db/connect";
import { databaseUrl, postgresAdminUrl } from "./paths";

export type FaultDatabase = {
  name: string;
  /** Straight to PostgreSQL (the proxy test hands the server another URL). */
  url: string;
  /** Drops the database, ending whatever sessions are still connected to it. */
  drop: () => Promise<void>;
};

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database of the test's own; the server applies the migrations when it starts. */
export async function createFaultDatabase(label: string): Promise<FaultDatabase> {
  const name = `creditkit_faults_${label}_${randomBytes(4).toString("hex")}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** The test's own handle for seeding through the core (no migrations: the server has applied them). */
export function connectForSeeding(url: string): Promise<DatabaseConnection> {
  return connectDatabase({ kind: "postgres", url, migrate: false, poolSize: 4 });
}

/** A plain `pg` pool for reading what the server left behind, independent of the code under test. */
export function inspectionPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 10_000 });
  pool.on("error", () => {});
  return pool;
}

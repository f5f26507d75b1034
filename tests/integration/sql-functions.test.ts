import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { connectDatabase, type DatabaseConnection, migrationsFolder } from "../../src/db/connect";
import {
  installSqlFunctions,
  type RunSql,
  readSqlFunctionFiles,
  sqlFunctionFiles,
} from "../../src/db/sql-functions";
import { withDatabase } from "../support/global-setup";
import { adminUrl, testDatabaseUrl } from "../support/paths";
import { seedUser } from "../support/seed";
import { createTestDatabase, type DatabaseKind, databaseKinds } from "../support/test-database";

/**
 * The ledger's SQL functions live in files beside their callers and are installed on every migrate
 * (src/db/sql-functions.ts). What a deployment would notice: a database that has only ever run the numbered
 * migrations (any database created before the files existed) ends up with exactly the files' functions, a
 * restart that installs them again changes nothing, and instances that start together do not trip over
 * each other.
 */

/** A function as the database holds it, complete: name, parameters, results, body, options. */
type FunctionDefinition = { name: string; definition: string };

/** One connection: `run` takes several statements in one text, `rows` one query. */
type Session = { run: RunSql; rows: <Row>(text: string) => Promise<Row[]> };

const pgliteSession = (client: PGlite): Session => ({
  run: (text) => client.exec(text),
  rows: async <Row>(text: string) => (await client.query<Row>(text)).rows,
});

const pgSession = (client: pg.ClientBase): Session => ({
  run: (text) => client.query(text),
  rows: async <Row>(text: string) => (await client.query(text)).rows as Row[],
});

/** A database of its own, with one connection to run SQL on. */
type Scratch = Session & { migrate: () => Promise<void>; url?: string; close: () => Promise<void> };

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function emptyDatabase(kind: DatabaseKind): Promise<Scratch> {
  if (kind === "pglite") {
    const client = new PGlite();
    await client.waitReady;
    const scratch: Scratch = {
      ...pgliteSession(client),
      migrate: () => migratePglite(drizzlePglite({ client }), { migrationsFolder }),
      close: () => client.close(),
    };
    closers.push(scratch.close);
    return scratch;
  }
  const url = testDatabaseUrl() as string;
  const name = `creditkit_test_fn_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl(url) });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
  const databaseUrl = withDatabase(url, name);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const scratch: Scratch = {
    ...pgSession(client),
    migrate: () => migratePg(drizzlePg({ client }), { migrationsFolder }),
    url: databaseUrl,
    close: async () => {
      await client.end();
      const dropper = new pg.Client({ connectionString: adminUrl(url) });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => dropper.end());
    },
  };
  closers.push(scratch.close);
  return scratch;
}

/** Every `creditkit_*` function of a schema, complete, with the schema's name taken out. */
function definitionsIn(schema: string) {
  return `SELECT p.proname AS name,
                 replace(pg_get_functiondef(p.oid), '${schema}.', '') AS definition
          FROM pg_proc p WHERE p.pronamespace = '${schema}'::regnamespace AND p.proname LIKE 'creditkit\\_%'
          ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)`;
}

/**
 * What the files define, read back from the database itself: the files run in a schema of their own,
 * first on the search path, in a transaction that is rolled back.
 */
async function definedByFiles(db: Session): Promise<FunctionDefinition[]> {
  await db.run("BEGIN");
  try {
    await db.run("CREATE SCHEMA creditkit_expected; SET LOCAL search_path = creditkit_expected, public");
    for (const { text } of readSqlFunctionFiles()) await db.run(text);
    return await db.rows<FunctionDefinition>(definitionsIn("creditkit_expected"));
  } finally {
    await db.run("ROLLBACK");
  }
}

const installed = (db: Session) => db.rows<FunctionDefinition>(definitionsIn("public"));
const oids = (db: Session) =>
  db.rows<{ oid: number }>(
    "SELECT oid::int AS oid FROM pg_proc WHERE proname LIKE 'creditkit\\_%' ORDER BY oid",
  );

describe("the SQL functions' files", () => {
  it("are all installed: every .sql file under a sql/ folder of src is in the install list, and only those", () => {
    const found: string[] = [];
    const visit = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) visit(full);
        else if (path.basename(dir) === "sql" && entry.name.endsWith(".sql")) found.push(full);
      }
    };
    visit("src");
    expect([...sqlFunctionFiles].sort()).toEqual(found.map((file) => file.split(path.sep).join("/")).sort());
  });
});

describe.each(databaseKinds())("installing the SQL functions on %s", (kind) => {
  it("turns a database migrated by the numbered migrations only into one with exactly the files' functions, and a second install changes nothing", async () => {
    const db = await emptyDatabase(kind);
    await db.migrate();
    const expected = await definedByFiles(db);
    const created = readSqlFunctionFiles().flatMap(
      ({ text }) => text.match(/^CREATE OR REPLACE FUNCTION/gm) ?? [],
    );
    expect(expected).toHaveLength(created.length);
    // The numbered migrations alone leave other definitions (older ones, and no creditkit_lock_account).
    expect(await installed(db)).not.toEqual(expected);

    await installSqlFunctions(db.run);
    expect(await installed(db)).toEqual(expected);
    const first = await oids(db);

    // A restart: the same functions, the same objects (CREATE OR REPLACE keeps a function's owner and grants).
    await installSqlFunctions(db.run);
    expect(await installed(db)).toEqual(expected);
    expect(await oids(db)).toEqual(first);
  });

  it("leaves the ledger as it was and working when installed again on a database in use", async () => {
    const connection = await createTestDatabase(kind);
    closers.push(connection.close);
    const userId = await seedUser(connection.db);
    await addCredits(connection.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "seed",
      idempotencyKey: "seed",
    });
    const spend = { userId, amount: 3, description: "work", idempotencyKey: "spend-1" };
    const first = await consumeCredits(connection.db, spend);

    await onOneConnection(connection, (session) => installSqlFunctions(session.run));

    expect(await getBalance(connection.db, userId)).toMatchObject({ balance: 7, available: 7 });
    expect(await consumeCredits(connection.db, spend)).toEqual({ ...first, replayed: true });
    expect(await consumeCredits(connection.db, { ...spend, idempotencyKey: "spend-2" })).toMatchObject({
      ok: true,
      balance: 4,
    });
  });

  it("gives every database the tests start from (made by connectDatabase in global setup) the files' functions", async () => {
    const connection = await createTestDatabase(kind);
    closers.push(connection.close);
    await onOneConnection(connection, async (session) => {
      expect(await installed(session)).toEqual(await definedByFiles(session));
    });
  });
});

describe.runIf(databaseKinds().includes("postgres"))(
  "several instances starting at once (PostgreSQL)",
  () => {
    it("install one after another: every install succeeds and the functions are the files'", async () => {
      const db = await emptyDatabase("postgres");
      await db.migrate();
      const clients = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const client = new pg.Client({ connectionString: db.url });
          await client.connect();
          return client;
        }),
      );
      try {
        await Promise.all(clients.map((client) => installSqlFunctions((text) => client.query(text))));
      } finally {
        await Promise.all(clients.map((client) => client.end()));
      }
      expect(await installed(db)).toEqual(await definedByFiles(db));
    });

    it("migrate and install from several connectDatabase calls at once on an empty database", async () => {
      const db = await emptyDatabase("postgres");
      const url = db.url as string;
      const connections = await Promise.all(
        Array.from({ length: 3 }, () => connectDatabase({ kind: "postgres", url, poolSize: 1 })),
      );
      await Promise.all(connections.map((connection) => connection.close()));
      expect(await installed(db)).toEqual(await definedByFiles(db));
    });
  },
);

/** Plain SQL on one connection of a test database: a transaction must not hop between pooled connections. */
async function onOneConnection<T>(
  connection: DatabaseConnection,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const client = (connection.db as unknown as { $client: PGlite | pg.Pool }).$client;
  if (client instanceof PGlite) return work(pgliteSession(client));
  const session = await client.connect();
  try {
    return await work(pgSession(session));
  } finally {
    session.release();
  }
}

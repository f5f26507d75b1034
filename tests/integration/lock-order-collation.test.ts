import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { connectDatabase } from "../../src/db/connect";
import { user } from "../../src/db/schema";
import { createApiKey } from "../../src/service-api/api-keys";
import { withDatabase } from "../support/global-setup";
import { adminUrl, testDatabaseUrl } from "../support/paths";

/**
 * Statements that lock several users' accounts (the expiry sweep, a batch of service-API spends) must take
 * the locks in one order, or two of them running at once can deadlock. Both sort user ids, and the order
 * of a sort depends on the collation: with a database whose default collation is not C (en_US.UTF-8 is a
 * common default) `aUser` sorts before `BUser`, in byte order after it. Better Auth's ids mix upper and
 * lower case, so such pairs are everyday ids. PostgreSQL only (PGlite has one connection), with ICU.
 */
const url = testDatabaseUrl();
describe.skipIf(!url)("lock order of statements that lock several users, on a non-C collation", () => {
  const name = `creditkit_test_collation_${randomBytes(6).toString("hex")}`;
  let databaseUrl = "";
  let apiKeyId = "";
  let icu = true;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl(url as string) });
    await admin.connect();
    try {
      await admin.query(
        `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
      );
    } catch {
      icu = false; // a server built without ICU: nothing to show here
      return;
    } finally {
      await admin.end();
    }
    databaseUrl = withDatabase(url as string, name);
    const connection = await connectDatabase({ kind: "postgres", url: databaseUrl });
    try {
      for (const id of ["aUser", "BUser"]) {
        await connection.db.insert(user).values({ id, name: id, email: `${id}@example.test`, role: "user" });
        await addCredits(connection.db, {
          userId: id,
          amount: 10,
          type: "grant",
          description: "seed",
          idempotencyKey: "seed",
        });
      }
      apiKeyId = (await createApiKey(connection.db, "k", { userId: null, label: "tests" })).apiKey.id;
      // The batch gives up a lock wait after 250 ms (its own lock_timeout), long before a deadlock would be
      // detected (deadlock_timeout, 1 s), and this test holds locks for longer to line the waits up. What is
      // tested here is the order the locks are taken in, so in this test's own database the batch waits
      // like any statement and a wrong order shows as the deadlock it is.
      await connection.db.execute(
        sql.raw("ALTER FUNCTION creditkit_api_consume_batch SET lock_timeout = '10s'"),
      );
    } finally {
      await connection.close();
    }
  }, 60_000);

  afterAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl(url as string) });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => admin.end());
  });

  it("lets the expiry sweep and a batch of spends over the same users both finish", async (context) => {
    if (!icu) context.skip();
    const sessions = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        return client;
      }),
    );
    const [holdsA, holdsB, sweeper, spender] = sessions as [pg.Client, pg.Client, pg.Client, pg.Client];
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
    try {
      // Two other transactions hold the accounts, so the sweep and the batch queue up in a known order.
      await holdsA.query("BEGIN");
      await holdsA.query("SELECT 1 FROM credit_account WHERE user_id = 'aUser' FOR UPDATE");
      await holdsB.query("BEGIN");
      await holdsB.query("SELECT 1 FROM credit_account WHERE user_id = 'BUser' FOR UPDATE");
      const sweep = sweeper
        .query("SELECT * FROM creditkit_sweep_expired_lots(NULL, ARRAY['aUser', 'BUser'])")
        .then(
          () => "done",
          (error: { code?: string }) => error.code,
        );
      await pause();
      const batch = spender
        .query(
          `SELECT o_index, o_outcome FROM creditkit_api_consume_batch(ARRAY[$1, $1]::uuid[], ARRAY['k1', 'k2'],
             ARRAY['h1', 'h2'], ARRAY['aUser', 'BUser'], ARRAY[1, 1]::bigint[], ARRAY['d', 'd'],
             ARRAY['creditkit/test/1', 'creditkit/test/2'], ARRAY['lh', 'lh'], ARRAY['{}', '{}']::jsonb[],
             ARRAY[NULL, NULL]::timestamptz[], 200, 402)`,
          [apiKeyId],
        )
        .then(
          () => "done",
          (error: { code?: string }) => error.code,
        );
      await pause();
      await holdsB.query("COMMIT");
      await pause();
      await holdsA.query("COMMIT");
      // 40P01 (deadlock_detected) for one of them when the two sort the users differently.
      expect({ sweep: await sweep, batch: await batch }).toEqual({ sweep: "done", batch: "done" });
    } finally {
      await Promise.all(sessions.map((session) => session.end()));
    }
  }, 30_000);
});

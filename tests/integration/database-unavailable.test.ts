import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { connectDatabase, DatabaseUnavailableError } from "../../src/db/connect";
import { classifyError } from "../../src/server/http-errors";
import { closedPort } from "../support/net";

const url = process.env.TEST_DATABASE_URL;

/** The error `run` fails with (the test fails if it succeeds). */
async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("the query succeeded");
}

// Failures PostgreSQL never answered carry no SQLSTATE: the driver's boundary names them by a code, so the
// one error mapping answers 503 database_unavailable without reading their messages.
describe.skipIf(!url)("a database that cannot be reached, on PostgreSQL", () => {
  it("nothing listening: 503 database_unavailable, retryable", async () => {
    const connection = await connectDatabase({
      kind: "postgres",
      url: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`,
      migrate: false,
    });
    try {
      const error = await failureOf(() => connection.db.execute(sql`SELECT 1`));
      // Drizzle wraps the driver's failure; the named one is its cause.
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(DatabaseUnavailableError);
      expect(classifyError(error)).toMatchObject({
        status: 503,
        code: "database_unavailable",
        retryable: true,
      });
    } finally {
      await connection.close();
    }
  });

  it("a connection that ends under a transaction: 503 database_unavailable", async () => {
    const connection = await connectDatabase({ kind: "postgres", url: url as string, migrate: false });
    const killer = await connectDatabase({ kind: "postgres", url: url as string, migrate: false });
    try {
      const error = await failureOf(() =>
        connection.db.transaction(async (tx) => {
          const { rows } = (await tx.execute(sql`SELECT pg_backend_pid() AS pid`)) as unknown as {
            rows: { pid: number }[];
          };
          const pid = rows[0]?.pid;
          await killer.db.execute(sql`SELECT pg_terminate_backend(${pid})`);
          await tx.execute(sql`SELECT 1`);
        }),
      );
      expect(classifyError(error)).toMatchObject({
        status: 503,
        code: "database_unavailable",
        retryable: true,
      });
    } finally {
      await connection.close().catch(() => {});
      await killer.close();
    }
  });
});

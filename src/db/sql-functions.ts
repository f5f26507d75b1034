import fs from "node:fs";
import path from "node:path";

/**
 * The rules that run in the database for speed, one file each beside the TypeScript that calls it, in the
 * order they are installed: a function before the functions that call it. A rule change is an edit of its
 * file; every migrate installs the files again (see installSqlFunctions), so no numbered migration is
 * needed. Paths are relative to the project root.
 */
export const sqlFunctionFiles = [
  "src/credits/sql/lock-account.sql",
  "src/credits/sql/expire-due-lots.sql",
  "src/credits/sql/draw-from-lots.sql",
  "src/credits/sql/repay-debt.sql",
  "src/credits/sql/consume-credits.sql",
  "src/credits/sql/coalesce-spends.sql",
  "src/credits/sql/add-credits.sql",
  "src/credits/sql/settle-hold.sql",
  "src/credits/sql/sweep-expired-lots.sql",
  "src/service-api/sql/api-consume.sql",
  "src/service-api/sql/api-consume-batch.sql",
  // Low-balance alerts: the threshold (credits or a plan's percentage) and the crossing, decided per change.
  "src/alerts/sql/low-balance-alerts.sql",
  // Auto top-up: a crossing below the user's threshold starts one top-up (one in flight, within the cap).
  "src/auto-top-up/sql/auto-top-up.sql",
  // Triggers on the ledger's tables that write outbound events in the transaction of each change.
  "src/outbound/sql/outbound-events.sql",
  // Triggers that keep the overview's daily aggregates in the transaction of each ledger write.
  "src/credits/sql/ledger-aggregates.sql",
] as const;

/**
 * Read from the project root (the process's working directory), like the numbered migrations
 * (connect.ts), not relative to this module: Next.js bundles server code into .next/, where a path
 * relative to the module names nothing, while every way creditkit runs (`npm start`, `next start`,
 * `next dev`, the CLI, the bench, vitest) runs from the project root. next.config.ts lists the files for
 * Next.js's output file tracing, so a traced deployment carries them too.
 */
export function readSqlFunctionFiles(root: string = process.cwd()): { file: string; text: string }[] {
  return sqlFunctionFiles.map((file) => {
    try {
      return { file, text: fs.readFileSync(path.join(root, file), "utf8") };
    } catch (error) {
      throw new Error(
        `Cannot read ${file} under ${root}: ${(error as Error).message}. creditkit runs from its project root, where the migrations and the SQL functions are.`,
        { cause: error },
      );
    }
  });
}

/** One connection's plain (simple protocol) query: several statements in one text are allowed. */
export type RunSql = (text: string) => Promise<unknown>;

/**
 * Arbitrary but fixed: every process that migrates the same PostgreSQL database (numbered migrations, then
 * these functions) queues on this advisory lock. connect.ts holds it across both; the install takes it
 * again for its own transaction, which a session that already holds it gets at once.
 */
export const MIGRATION_LOCK_ID = 727_001;

/**
 * Installs every file of sqlFunctionFiles on one connection, in one transaction: either all functions are
 * the files' or none changed. Run after the numbered migrations on every migrate (connectDatabase), so the
 * database always holds the functions of the code that is starting. Running it again changes nothing:
 * CREATE OR REPLACE keeps each function (the same object, its owner and grants) and sets its definition.
 *
 * Several app instances may start at once on one PostgreSQL: the transaction takes an advisory lock first,
 * so they install one after another (without it, two concurrent installs fail on the catalog: "tuple
 * concurrently updated", or a duplicate key in pg_proc for a new function). Calls running in other
 * sessions meanwhile keep the definitions they started with; their next statement after the commit sees
 * the new ones. `run` must be one connection (BEGIN and COMMIT go through it), never a pool.
 *
 * A file that fails stops the install, rolls it back and throws an Error naming the file, with the
 * database's error as its cause.
 */
export async function installSqlFunctions(run: RunSql, root?: string): Promise<void> {
  const files = readSqlFunctionFiles(root);
  await run("BEGIN");
  try {
    await run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`);
    for (const { file, text } of files) {
      try {
        await run(text);
      } catch (error) {
        throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
      }
    }
    await run("COMMIT");
  } catch (error) {
    await run("ROLLBACK").catch(() => {});
    throw error;
  }
}

import { TransactionRollbackError } from "drizzle-orm";
import pg from "pg";
import type { Database, DatabaseOrTransaction } from "@/db/types";

export type LoggedQuery = { text: string; values: unknown[]; rows?: Record<string, unknown>[] };

type QueryFn = (...args: unknown[]) => unknown;

/**
 * Records every statement sent by any pg.Client in this process while `run` executes: each one is a
 * network round trip to PostgreSQL (node-postgres sends one statement per round trip, and Drizzle
 * neither pipelines nor batches). Run it with nothing else in flight, or other work is counted too.
 */
export async function recordQueries<T>(
  run: () => Promise<T>,
): Promise<{ result: T; queries: LoggedQuery[] }> {
  const queries: LoggedQuery[] = [];
  const prototype = pg.Client.prototype as unknown as { query: QueryFn };
  const original = prototype.query;
  prototype.query = function patched(this: unknown, ...args: unknown[]) {
    const [first, second] = args;
    let logged: LoggedQuery | undefined;
    if (typeof first === "string") {
      logged = { text: first, values: Array.isArray(second) ? second : [] };
    } else if (first && typeof first === "object" && "text" in first) {
      const config = first as { text: string; values?: unknown[] };
      logged = { text: config.text, values: config.values ?? (Array.isArray(second) ? second : []) };
    }
    if (logged) queries.push(logged);
    const returned = original.apply(this, args);
    // Keep the rows, so a replay can map ids the original run generated to the ones the replay generates.
    if (logged && returned instanceof Promise) {
      const entry = logged;
      returned.then(
        (result: { rows?: Record<string, unknown>[] }) => {
          entry.rows = result?.rows;
        },
        () => {},
      );
    }
    return returned;
  };
  try {
    const result = await run();
    return { result, queries };
  } finally {
    prototype.query = original;
  }
}

/** A one-line label for a statement: its verb and table, e.g. `select credit_lot`. */
export function describeStatement(text: string): string {
  const compact = text.replace(/\s+/g, " ").trim();
  const lower = compact.toLowerCase();
  if (/^(begin|commit|rollback)/.test(lower)) return lower.split(" ")[0] ?? lower;
  if (lower.startsWith("savepoint")) return "savepoint";
  if (lower.startsWith("release savepoint")) return "release savepoint";
  const table = /(?:from|into|update)\s+"?([a-z_]+)"?/.exec(lower)?.[1] ?? "?";
  const verb = lower.split(" ")[0] ?? "?";
  const lock = /for update/.test(lower) ? " for update" : "";
  const conflict = /on conflict/.test(lower) ? " on conflict" : "";
  return `${verb} ${table}${lock}${conflict}`;
}

/**
 * Runs `work` inside a transaction that is always rolled back: its statements can be captured and
 * replayed under EXPLAIN ANALYZE without leaving rows behind (or tripping unique keys on the replay).
 */
export async function rolledBack(
  db: Database,
  work: (tx: DatabaseOrTransaction) => Promise<unknown>,
): Promise<void> {
  await db
    .transaction(async (tx) => {
      await work(tx);
      tx.rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof TransactionRollbackError)) throw error;
    });
}

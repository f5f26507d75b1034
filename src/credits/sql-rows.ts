import { createHash } from "node:crypto";
import type { SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { DatabaseOrTransaction } from "@/db/types";

const dialect = new PgDialect();

/**
 * Runs one of the ledger's hot statements (a spend, a grant) as a named prepared statement: PostgreSQL
 * parses and plans it once per connection instead of on every call, which measured 13% more spends per
 * second on the reference machine (BENCHMARKS.md). Each name must always carry the same SQL text. PGlite
 * has no named statements and runs it as a plain query; the answer is the same `{ rows }` as db.execute.
 */
export function executePrepared(db: DatabaseOrTransaction, name: string, query: SQL): Promise<unknown> {
  const built = dialect.sqlToQuery(query);
  return db._.session.prepareQuery(built, undefined, statementName(name, built.sql), false).execute();
}

const statementNames = new Map<string, { text: string; name: string }>();

/**
 * The name plus a hash of the SQL text: a connection refuses a known name with other text, and two
 * versions of a statement can meet on one pool under `next dev`, where a module reloaded after an edit
 * uses the pool kept in the process registry, whose connections prepared the text before the edit.
 */
function statementName(name: string, text: string): string {
  const known = statementNames.get(name);
  if (known?.text === text) return known.name;
  const named = `${name}_${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
  statementNames.set(name, { text, name: named });
  return named;
}

/** The rows of a raw `db.execute` result; node-postgres and PGlite both answer `{ rows }`. */
export function sqlRows<Row>(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows;
}

export function firstRow<Row>(result: unknown): Row {
  const [row] = sqlRows<Row>(result);
  if (!row) throw new Error("the database function returned no row");
  return row;
}

/**
 * The SQLSTATE of a database error (PostgreSQL's five-character code, from node-postgres or PGlite), looking
 * through the wrappers Drizzle puts around it. Node's errno codes (ECONNRESET, EPIPE…) and the app's own
 * codes are not SQLSTATEs and are skipped.
 */
export function sqlStateOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === "object" && !seen.has(current); ) {
    seen.add(current);
    const { code } = current as { code?: unknown };
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E")) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

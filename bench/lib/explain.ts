import type pg from "pg";
import { describeStatement, type LoggedQuery } from "./query-log";

export type ExplainedStatement = {
  label: string;
  sql: string;
  /** EXPLAIN (ANALYZE, BUFFERS, WAL) output, one plan line per entry. */
  plan: string[];
  executionMs: number | null;
  /**
   * Plans of the statements run inside database functions the statement called, from auto_explain with
   * log_nested_statements (when the server lets this session LOAD it): EXPLAIN alone stops at the call.
   */
  nested?: string[];
};

/**
 * auto_explain reports through LOG messages; with client_min_messages = log they reach this client as
 * notices. SET LOCAL keeps every setting inside the replay transaction.
 */
async function enableNestedPlans(client: pg.PoolClient): Promise<boolean> {
  try {
    await client.query("SAVEPOINT auto_explain");
    await client.query("LOAD 'auto_explain'");
    for (const setting of [
      "auto_explain.log_min_duration = 0",
      "auto_explain.log_analyze = on",
      "auto_explain.log_buffers = on",
      "auto_explain.log_wal = on",
      "auto_explain.log_timing = on",
      "auto_explain.log_nested_statements = on",
      "client_min_messages = log",
    ])
      await client.query(`SET LOCAL ${setting}`);
    await client.query("RELEASE SAVEPOINT auto_explain");
    return true;
  } catch {
    await client.query("ROLLBACK TO SAVEPOINT auto_explain").catch(() => {});
    return false;
  }
}

const SKIP = /^\s*(begin|commit|rollback|savepoint|release savepoint)/i;
const INSERTS_ENTRY = /^\s*insert into "credit_entry"/i;

function firstId(rows: LoggedQuery["rows"]): unknown {
  const row = rows?.[0] as unknown;
  if (Array.isArray(row)) return row[0];
  if (row && typeof row === "object" && "id" in row) return (row as { id: unknown }).id;
  return undefined;
}

/**
 * Replays captured statements under EXPLAIN (ANALYZE, BUFFERS, WAL) in one transaction that is rolled back,
 * in their original order so each sees the rows the previous ones wrote (locks included). Entry ids the
 * original run generated are mapped to the ones the replay generates, so the allocation rows that point
 * at them pass their foreign key. A statement that still fails is shown with its plan only.
 */
export async function explainStatements(
  pool: pg.Pool,
  queries: readonly LoggedQuery[],
  options: { onlyFirstOfEachLabel?: boolean } = {},
): Promise<ExplainedStatement[]> {
  const client = await pool.connect();
  const explained: ExplainedStatement[] = [];
  const idMap = new Map<string, unknown>();
  const seen = new Set<string>();
  const notices: string[] = [];
  const onNotice = (message: { message?: string }) => {
    if (message.message?.includes("plan:")) notices.push(message.message);
  };
  client.on("notice", onNotice);
  try {
    await client.query("BEGIN");
    const nestedPlans = await enableNestedPlans(client);
    for (const query of queries) {
      if (SKIP.test(query.text)) continue;
      const label = describeStatement(query.text);
      const show = !options.onlyFirstOfEachLabel || !seen.has(label);
      seen.add(label);
      const values = /entry_id/.test(query.text)
        ? query.values.map((value) => (idMap.has(String(value)) ? idMap.get(String(value)) : value))
        : query.values;
      const sql = query.text.replace(/\s+/g, " ").trim();
      await client.query("SAVEPOINT explain_step");
      notices.length = 0;
      try {
        const result = await client.query<{ "QUERY PLAN": string }>(
          `EXPLAIN (ANALYZE, BUFFERS, WAL) ${query.text}`,
          values,
        );
        await client.query("RELEASE SAVEPOINT explain_step");
        if (INSERTS_ENTRY.test(query.text)) {
          const original = firstId(query.rows);
          const replayed = await client.query<{ id: string }>(
            "SELECT currval(pg_get_serial_sequence('credit_entry', 'id'))::text AS id",
          );
          if (original !== undefined && replayed.rows[0]) idMap.set(String(original), replayed.rows[0].id);
        }
        if (!show) continue;
        const plan = result.rows.map((row) => row["QUERY PLAN"]);
        const execution = plan.map((line) => /Execution Time: ([\d.]+) ms/.exec(line)?.[1]).find(Boolean);
        // auto_explain also reports the EXPLAINed statement itself; only what ran inside it is news.
        const nested = nestedPlans
          ? firstOfEachQuery(notices.filter((notice) => !notice.includes("EXPLAIN (ANALYZE, BUFFERS, WAL)")))
          : [];
        explained.push({
          label,
          sql,
          plan,
          executionMs: execution ? Number(execution) : null,
          ...(nested.length ? { nested } : {}),
        });
      } catch (error) {
        await client.query("ROLLBACK TO SAVEPOINT explain_step");
        if (!show) continue;
        const message = error instanceof Error ? error.message : String(error);
        const plain = await client
          .query<{ "QUERY PLAN": string }>(`EXPLAIN ${query.text}`, values)
          .catch(() => null);
        explained.push({
          label,
          sql,
          plan: [`(not executed: ${message})`, ...(plain?.rows.map((row) => row["QUERY PLAN"]) ?? [])],
          executionMs: null,
        });
      }
    }
  } finally {
    await client.query("ROLLBACK").catch(() => {});
    client.removeListener("notice", onNotice);
    client.release();
  }
  return explained;
}

/**
 * A function that loops runs the same statements many times (a sweep batch: thousands): keep the first plan
 * of each statement, and say how often it ran and for how long in all.
 */
function firstOfEachQuery(notices: readonly string[]): string[] {
  const byQuery = new Map<string, { first: string; runs: number; totalMs: number }>();
  for (const notice of notices) {
    const text = notice.trim();
    const query = /Query Text: ([^\n]*)/.exec(text)?.[1] ?? text.slice(0, 200);
    const ms = Number(/duration: ([\d.]+) ms/.exec(text)?.[1] ?? 0);
    const seen = byQuery.get(query);
    if (seen) {
      seen.runs += 1;
      seen.totalMs += ms;
    } else byQuery.set(query, { first: text, runs: 1, totalMs: ms });
  }
  return [...byQuery.values()].map(({ first, runs, totalMs }) =>
    runs === 1 ? first : `ran ${runs} times, ${totalMs.toFixed(3)} ms in all; the first:\n${first}`,
  );
}

/** Plans as indented text blocks for the Markdown report. */
export function renderPlans(title: string, statements: readonly ExplainedStatement[]): string {
  const blocks = statements.map((s) =>
    [
      `-- ${s.label}`,
      `-- ${s.sql}`,
      ...s.plan,
      ...(s.nested ?? []).flatMap((plan) => ["", "-- nested (auto_explain):", ...plan.split("\n")]),
    ].join("\n"),
  );
  return [`#### ${title}`, "", "```", blocks.join("\n\n"), "```"].join("\n");
}

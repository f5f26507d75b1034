import { type ChildProcess, spawn } from "node:child_process";
import type pg from "pg";
import { REPO_ROOT } from "./paths";

export type LedgerEntry = {
  id: number;
  userId: string;
  type: string;
  amount: number;
  reference: string | null;
  idempotencyKey: string;
  /** What the entry's allocations draw from lots (a complete debit draws exactly -amount). */
  allocated: number;
};

/** Every ledger entry of the test's database, grouped by idempotency key. */
export async function entriesByKey(pool: pg.Pool): Promise<Map<string, LedgerEntry[]>> {
  const { rows } = await pool.query<{
    id: string;
    user_id: string;
    type: string;
    amount: string;
    reference: string | null;
    idempotency_key: string;
    allocated: string;
  }>(
    `SELECT e.id, e.user_id, e.type, e.amount, e.reference, e.idempotency_key,
            coalesce((SELECT sum(a.amount) FROM credit_allocation a WHERE a.entry_id = e.id), 0) AS allocated
       FROM credit_entry e ORDER BY e.id`,
  );
  const byKey = new Map<string, LedgerEntry[]>();
  for (const row of rows) {
    const entry: LedgerEntry = {
      id: Number(row.id),
      userId: row.user_id,
      type: row.type,
      amount: Number(row.amount),
      reference: row.reference,
      idempotencyKey: row.idempotency_key,
      allocated: Number(row.allocated),
    };
    byKey.set(entry.idempotencyKey, [...(byKey.get(entry.idempotencyKey) ?? []), entry]);
  }
  return byKey;
}

/** The stored service-API answers, by Idempotency-Key (one API key per test database). */
export async function storedApiAnswers(pool: pg.Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ idempotency_key: string; response_status: number }>(
    "SELECT idempotency_key, response_status FROM api_idempotency",
  );
  return new Map(rows.map((row) => [row.idempotency_key, row.response_status]));
}

export type Account = { balance: number; held: number; debt: number };

export async function accounts(pool: pg.Pool): Promise<Map<string, Account>> {
  const { rows } = await pool.query<{ user_id: string; balance: string; held: string; debt: string }>(
    "SELECT user_id, balance, held, debt FROM credit_account",
  );
  return new Map(
    rows.map((row) => [
      row.user_id,
      { balance: Number(row.balance), held: Number(row.held), debt: Number(row.debt) },
    ]),
  );
}

/**
 * `npm run credits -- verify`, the operators' check of every ledger invariant, against the test database.
 * Bounded: a verify that does not finish in time is killed and reported as such.
 */
export async function runVerifyCli(
  databaseUrl: string,
  dataDir: string,
  timeoutMs = 90_000,
): Promise<{ code: number | null; output: string }> {
  const child: ChildProcess = spawn("npm", ["run", "--silent", "credits", "--", "verify"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "production",
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
    },
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
      output += `\n(killed: verify did not finish within ${timeoutMs} ms)`;
    }, timeoutMs);
    child.once("close", (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

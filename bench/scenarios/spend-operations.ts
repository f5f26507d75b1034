import { randomUUID } from "node:crypto";
import type pg from "pg";
import { consumeCredits } from "@/credits/consume-credits";
import type { Database } from "@/db/types";

/**
 * The least SQL a correct spend needs: one conditional UPDATE that cannot overdraw and one ledger row.
 * The unique (user_id, idempotency_key) index matches ours, so both pay for the same index upkeep.
 */
export async function createBaselineTables(pool: pg.Pool, users: readonly string[], credits: number) {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS bench_balance (user_id text PRIMARY KEY, balance bigint NOT NULL);
    CREATE TABLE IF NOT EXISTS bench_entry (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id text NOT NULL,
      amount bigint NOT NULL,
      description text NOT NULL,
      idempotency_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, idempotency_key)
    );`);
  await pool.query(
    `INSERT INTO bench_balance (user_id, balance) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING`,
    [users, credits],
  );
}

export async function baselineSpend(pool: pg.Pool, userId: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const updated = await client.query(
      "UPDATE bench_balance SET balance = balance - 1 WHERE user_id = $1 AND balance >= 1",
      [userId],
    );
    if (updated.rowCount !== 1) throw new Error(`baseline: insufficient credits for ${userId}`);
    await client.query(
      "INSERT INTO bench_entry (user_id, amount, description, idempotency_key) VALUES ($1, -1, $2, $3)",
      [userId, "bench spend", randomUUID()],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export async function ourSpend(db: Database, userId: string): Promise<void> {
  const result = await consumeCredits(db, {
    userId,
    amount: 1,
    description: "bench spend",
    idempotencyKey: randomUUID(),
  });
  if (!result.ok) throw new Error(`consumeCredits: ${result.reason} for ${userId}`);
}

import type pg from "pg";

/** Deterministic, readable ids: a scenario's rows can be found again by prefix. */
export function benchUserIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${String(index + 1).padStart(6, "0")}`);
}

export async function inTransaction<T>(
  pool: pg.Pool,
  run: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // Bulk seeding may outlast the app pool's 15 s statement_timeout (src/db/connect.ts) on a busy machine.
    await client.query("SET LOCAL statement_timeout = 0");
    const result = await run(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Users as Better Auth would store them; nothing else. */
export async function seedUsers(client: pg.ClientBase, prefix: string, count: number): Promise<string[]> {
  await client.query(
    `INSERT INTO "user" (id, name, email)
     SELECT $1 || lpad(i::text, 6, '0'), 'Bench user', $1 || lpad(i::text, 6, '0') || '@bench.invalid'
     FROM generate_series(1, $2::int) AS i`,
    [prefix, count],
  );
  return benchUserIds(prefix, count);
}

/**
 * Users that can spend: each gets an account, one never-expiring lot of `credits` and the grant entry that
 * created it, exactly as addCredits would leave them (balance = balance_after = lot.remaining).
 */
export async function seedFundedUsers(
  pool: pg.Pool,
  prefix: string,
  count: number,
  credits: number,
): Promise<string[]> {
  return inTransaction(pool, async (client) => {
    const ids = await seedUsers(client, prefix, count);
    await client.query(
      `INSERT INTO credit_account (user_id, balance) SELECT id, $2 FROM "user" WHERE id LIKE $1 || '%'`,
      [prefix, credits],
    );
    await client.query(
      `INSERT INTO credit_lot (user_id, credits, remaining, expires_at, source, category, created_at)
       SELECT user_id, $2, $2, NULL, 'grant', 'promotional', now() - interval '1 day'
       FROM credit_account WHERE user_id LIKE $1 || '%'`,
      [prefix, credits],
    );
    await client.query(
      `INSERT INTO credit_entry
         (user_id, type, amount, balance_after, description, idempotency_key, request_hash, metadata, created_at)
       SELECT user_id, 'grant', credits, credits, 'Bench seed grant', 'bench-seed:' || id, 'bench-seed',
              jsonb_build_object('lotId', id), created_at
       FROM credit_lot WHERE user_id LIKE $1 || '%'`,
      [prefix],
    );
    await linkGrantEntries(client, prefix);
    return ids;
  });
}

/** lot.grant_entry_id = the entry whose metadata names the lot, as addCredits writes it. */
export async function linkGrantEntries(client: pg.ClientBase, prefix: string): Promise<void> {
  await client.query(
    `UPDATE credit_lot l SET grant_entry_id = e.id
     FROM credit_entry e
     WHERE e.user_id LIKE $1 || '%' AND e.metadata ? 'lotId' AND l.id = (e.metadata->>'lotId')::uuid`,
    [prefix],
  );
}

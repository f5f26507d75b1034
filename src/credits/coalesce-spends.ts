import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { executePrepared, firstRow, sqlRows } from "./sql-rows";

export type SpendRequest = {
  userId: string;
  amount: number;
  type: string;
  description: string;
  idempotencyKey: string;
  hash: string;
  metadata: Record<string, unknown> | null;
  /** An explicit time for tests; null (production) lets the database use its own clock. */
  now: Date | null;
};

export type SpendRow = {
  o_status: string;
  o_entry_id: string | number | null;
  o_balance: string | number | null;
};

type Waiting = { request: SpendRequest; resolve: (row: SpendRow) => void; reject: (error: unknown) => void };
type UserQueue = { pending: Waiting[] };

/** Spends one batch may carry: enough to drain a busy queue, small enough to keep the lock short. */
const MAX_BATCH = 64;

const queuesByDatabase = new WeakMap<object, Map<string, UserQueue>>();

async function runOne(db: DatabaseOrTransaction, spend: SpendRequest): Promise<SpendRow> {
  return firstRow<SpendRow>(
    await executePrepared(
      db,
      "creditkit_consume",
      sql`
      SELECT o_status, o_entry_id, o_balance FROM creditkit_consume(
        ${spend.userId}, ${spend.amount}, ${spend.type}, ${spend.description}, ${spend.idempotencyKey}, ${spend.hash},
        ${spend.metadata ? JSON.stringify(spend.metadata) : null}::jsonb, ${spend.now ? spend.now.toISOString() : null}::timestamptz)`,
    ),
  );
}

async function runBatch(
  db: DatabaseOrTransaction,
  userId: string,
  spends: SpendRequest[],
): Promise<SpendRow[]> {
  const rows = sqlRows<SpendRow>(
    await executePrepared(
      db,
      "creditkit_consume_batch",
      // Each list is one parameter: node-postgres and PGlite encode a JavaScript array as a PostgreSQL array.
      sql`
      SELECT o_status, o_entry_id, o_balance FROM creditkit_consume_batch(
        ${userId},
        ${sql.param(spends.map((s) => s.amount))}::bigint[],
        ${sql.param(spends.map((s) => s.type))}::text[],
        ${sql.param(spends.map((s) => s.description))}::text[],
        ${sql.param(spends.map((s) => s.idempotencyKey))}::text[],
        ${sql.param(spends.map((s) => s.hash))}::text[],
        ${sql.param(spends.map((s) => (s.metadata ? JSON.stringify(s.metadata) : null)))}::jsonb[],
        ${sql.param(spends.map((s) => (s.now ? s.now.toISOString() : null)))}::timestamptz[])`,
    ),
  );
  if (rows.length !== spends.length)
    throw new Error("creditkit_consume_batch answered the wrong number of rows");
  return rows;
}

async function drain(
  db: DatabaseOrTransaction,
  queues: Map<string, UserQueue>,
  userId: string,
  queue: UserQueue,
) {
  while (queue.pending.length > 0) {
    const batch = queue.pending.splice(0, MAX_BATCH);
    try {
      const rows =
        batch.length === 1
          ? [await runOne(db, (batch[0] as Waiting).request)]
          : await runBatch(
              db,
              userId,
              batch.map((waiting) => waiting.request),
            );
      for (const [index, waiting] of batch.entries()) waiting.resolve(rows[index] as SpendRow);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
  queues.delete(userId);
}

/**
 * Runs a spend, coalescing it with other spends of the same user that are waiting in this process.
 *
 * Why: one user's spends are serialized by the account row lock, so a user spending from many clients at
 * once is limited by how long each spend holds the lock, commit included. The first spend runs at once
 * (no added latency when there is no contention); spends that arrive while it runs wait in a queue and
 * then run together as one statement (`creditkit_consume_batch`, src/credits/sql/coalesce-spends.sql): one
 * lock acquisition and one commit for the lot, each spend still checked and recorded on its own, in
 * arrival order. Every caller is answered only after the commit that contains its spend. Inside a caller's transaction there is nothing to coalesce with: it runs directly.
 */
export function runSpend(
  db: DatabaseOrTransaction,
  request: SpendRequest,
  inTransaction: boolean,
): Promise<SpendRow> {
  if (inTransaction) return runOne(db, request);
  let queues = queuesByDatabase.get(db);
  if (!queues) {
    queues = new Map();
    queuesByDatabase.set(db, queues);
  }
  const existing = queues.get(request.userId);
  return new Promise<SpendRow>((resolve, reject) => {
    if (existing) {
      existing.pending.push({ request, resolve, reject });
      return;
    }
    const queue: UserQueue = { pending: [{ request, resolve, reject }] };
    queues.set(request.userId, queue);
    void drain(db, queues, request.userId, queue);
  });
}

import { sql } from "drizzle-orm";
import { executePrepared, firstRow, sqlRows, sqlStateOf } from "@/credits/sql-rows";
import type { Database } from "@/db/types";

/** One service-API spend, as `creditkit_api_consume` takes it (src/service-api/sql/api-consume.sql). */
export type ApiSpend = {
  apiKeyId: string;
  idempotencyKey: string;
  /** The request's fingerprint, stored with its answer under (API key, Idempotency-Key). */
  requestHash: string;
  userId: string;
  /** Credits, a positive integer. */
  amount: number;
  description: string;
  /** The ledger entry's idempotency key and fingerprint (apiLedgerKey, requestHash("consume", ...)). */
  ledgerKey: string;
  ledgerHash: string;
  /** JSON text of the entry's metadata. */
  metadata: string;
  /** Tests only: production judges expiry by the database's clock. */
  now: Date | null;
};

/** The HTTP status of each answer; also recorded with the outcome, so that a replay answers the same. */
export const SPENT_STATUS = 200;
export const INSUFFICIENT_STATUS = 402;

/** What `creditkit_api_consume` answers (see its comment for each outcome). */
export type ApiSpendRow = {
  o_outcome: string;
  o_entry_id: string | number | null;
  o_balance: string | number | null;
  o_stored_hash: string | null;
  o_stored_status: number | null;
  o_stored_body: unknown;
};

/**
 * Batches running at once per database handle. The app's pool has 10 connections by default; the
 * batches leave the rest to every other request. More in flight means smaller batches (less shared per
 * commit), fewer means longer queues; 4 measured best on the reference machine (BENCHMARKS.md, scenario 2).
 */
const MAX_BATCHES_IN_FLIGHT = 4;
/** Spends one batch may carry: enough to drain a busy queue, small enough to keep its locks short. */
const MAX_BATCH = 64;

type Waiting = { spend: ApiSpend; resolve: (row: ApiSpendRow) => void; reject: (error: unknown) => void };
type Group = { pending: Waiting[]; inFlight: number; batches: number; spends: number };

const groups = new WeakMap<object, Group>();

function groupOf(db: Database): Group {
  let group = groups.get(db);
  if (!group) {
    group = { pending: [], inFlight: 0, batches: 0, spends: 0 };
    groups.set(db, group);
  }
  return group;
}

/**
 * Runs one service-API spend, committed together with the spends (of any users) that arrive while
 * earlier ones are running: group commit. Resolves with the spend's own row only after the commit that
 * holds it.
 *
 * Why: the round trip, transaction and commit around a spend cost about as much as the spend itself (see
 * src/service-api/sql/api-consume-batch.sql). The first spends run at once, alone (no added latency
 * while the database keeps up); when MAX_BATCHES_IN_FLIGHT statements are running, arriving spends wait
 * and go together in the next statement. Each is checked, recorded and answered on its own; a batch that
 * fails is not half-applied (one statement). When the database refused it, its spends are run again one
 * by one, so only a spend that fails on its own is answered with an error; when the database did not
 * answer, each of its spends is answered with that error (503, retryable).
 *
 * Throws what the database throws for this spend alone.
 */
export function runApiSpend(db: Database, spend: ApiSpend): Promise<ApiSpendRow> {
  const group = groupOf(db);
  return new Promise<ApiSpendRow>((resolve, reject) => {
    group.pending.push({ spend, resolve, reject });
    if (group.inFlight < MAX_BATCHES_IN_FLIGHT) void drain(db, group);
  });
}

/** Spends and statements sent by runApiSpend on this handle since the process started (monitoring). */
export function apiSpendBatchStats(db: Database): { spends: number; batches: number } {
  const { spends, batches } = groupOf(db);
  return { spends, batches };
}

async function drain(db: Database, group: Group) {
  group.inFlight += 1;
  try {
    while (group.pending.length > 0) {
      const batch = group.pending.splice(0, MAX_BATCH);
      group.batches += 1;
      group.spends += batch.length;
      try {
        // A lone spend goes through the batch function too: its short lock timeout keeps a spend whose
        // account is locked elsewhere from holding one of the few slots (see api-consume-batch.sql).
        const rows = await runBatch(
          db,
          batch.map((waiting) => waiting.spend),
        );
        for (const [index, waiting] of batch.entries()) waiting.resolve(rows[index] as ApiSpendRow);
      } catch (error) {
        // Nothing of the batch was applied (one statement).
        if (sqlStateOf(error) === undefined) {
          // The database did not answer (refused, reset, timed out): no spend of the batch is to blame,
          // and asking again one by one would only make each caller wait out the same failure twice.
          // Each gets the error (503, retryable; a retry with its key replays if the batch did commit).
          for (const waiting of batch) waiting.reject(error);
          continue;
        }
        // The database refused the batch (a lock not granted in time, a deadlock, a key recorded
        // meanwhile, one spend's own error): each spend alone gets its own answer or its own error, outside
        // the slots (not awaited here), so a spend that waits on a locked account waits on its own
        // connection, as before group commit, while the slot goes on to the next batch.
        for (const waiting of batch) void runAlone(db, waiting.spend).then(waiting.resolve, waiting.reject);
      }
    }
  } finally {
    group.inFlight -= 1;
  }
}

async function runAlone(db: Database, spend: ApiSpend): Promise<ApiSpendRow> {
  const once = async () =>
    firstRow<ApiSpendRow>(
      await executePrepared(
        db,
        "creditkit_api_consume",
        sql`
        SELECT o_outcome, o_entry_id, o_balance, o_stored_hash, o_stored_status, o_stored_body
        FROM creditkit_api_consume(
          ${spend.apiKeyId}::uuid, ${spend.idempotencyKey}, ${spend.requestHash}, ${spend.userId}, ${spend.amount},
          ${spend.description}, ${spend.ledgerKey}, ${spend.ledgerHash}, ${spend.metadata}::jsonb,
          ${spend.now ? spend.now.toISOString() : null}::timestamptz, ${SPENT_STATUS}::integer,
          ${INSUFFICIENT_STATUS}::integer)`,
      ),
    );
  try {
    return await once();
  } catch (error) {
    // Another request with this key recorded its answer first (unique_violation on the record, after it
    // committed; everything this call did was rolled back): asking again finds that answer.
    if (sqlStateOf(error) !== "23505") throw error;
    return once();
  }
}

async function runBatch(db: Database, spends: ApiSpend[]): Promise<ApiSpendRow[]> {
  const column = <T>(pick: (spend: ApiSpend) => T) => sql.param(spends.map(pick));
  const rows = sqlRows<ApiSpendRow & { o_index: number }>(
    await executePrepared(
      db,
      "creditkit_api_consume_batch",
      // Each list is one parameter: node-postgres and PGlite encode a JavaScript array as a PostgreSQL array.
      sql`
      SELECT o_index, o_outcome, o_entry_id, o_balance, o_stored_hash, o_stored_status, o_stored_body
      FROM creditkit_api_consume_batch(
        ${column((s) => s.apiKeyId)}::uuid[], ${column((s) => s.idempotencyKey)}::text[],
        ${column((s) => s.requestHash)}::text[], ${column((s) => s.userId)}::text[],
        ${column((s) => s.amount)}::bigint[], ${column((s) => s.description)}::text[],
        ${column((s) => s.ledgerKey)}::text[], ${column((s) => s.ledgerHash)}::text[],
        ${column((s) => s.metadata)}::jsonb[],
        ${column((s) => (s.now ? s.now.toISOString() : null))}::timestamptz[],
        ${SPENT_STATUS}::integer, ${INSUFFICIENT_STATUS}::integer)`,
    ),
  );
  // The rows come in lock order (by user); each carries its spend's 1-based position.
  const ordered: (ApiSpendRow | undefined)[] = Array.from({ length: spends.length }, () => undefined);
  for (const row of rows) ordered[Number(row.o_index) - 1] = row;
  if (rows.length !== spends.length || ordered.some((row) => row === undefined))
    throw new Error("creditkit_api_consume_batch answered the wrong rows");
  return ordered as ApiSpendRow[];
}

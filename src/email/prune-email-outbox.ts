import { sql } from "drizzle-orm";
import { sqlRows } from "@/credits/sql-rows";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";

/** Days a settled row of the email outbox is kept when EMAIL_OUTBOX_RETENTION_DAYS is unset. */
export const EMAIL_OUTBOX_RETENTION_DAYS = 30;

/** Rows deleted per statement: each batch is its own short transaction (see pruneEmailOutbox). */
export const EMAIL_OUTBOX_PRUNE_BATCH = 1000;

export type EmailOutboxPruneOptions = {
  /** Rows settled more than this many days ago go (default EMAIL_OUTBOX_RETENTION_DAYS). */
  retentionDays?: number;
  /** Rows per DELETE (default EMAIL_OUTBOX_PRUNE_BATCH). */
  batchSize?: number;
  /** Most batches in one run (default 100): the next run goes on where this one stopped. */
  maxBatches?: number;
  /** The moment the cut-off is counted from (tests); the database's clock otherwise. */
  now?: Date;
};

/**
 * The email outbox's retention: deletes the rows whose email was settled more than `retentionDays` days
 * ago, so a table that gains a row per alert and per auto top-up problem does not grow forever.
 * - Only settled rows go: `sent`, `logged` (no SMTP) and `skipped` (no address) counted from `sent_at`,
 *   `failed` (given up after its day of retries) from `give_up_at`. A `pending` row, never sent or still
 *   retrying, is never deleted, however old: it is an email the user is still owed.
 * - In bounded batches: each DELETE takes at most `batchSize` rows (oldest first, through the partial index
 *   email_outbox_settled_idx, so finding them never scans the table) and commits on its own, so a large
 *   backlog never holds a long lock or one long transaction; SKIP LOCKED leaves a row another transaction
 *   holds to the next run instead of waiting for it.
 * - Safe to run at any time, twice, or on two instances at once: a row is deleted once, and what is kept
 *   does not depend on who ran.
 * Returns the number of rows deleted; throws database errors to the job.
 */
export async function pruneEmailOutbox(
  db: Database,
  options: EmailOutboxPruneOptions = {},
): Promise<{ deleted: number }> {
  const days = options.retentionDays ?? EMAIL_OUTBOX_RETENTION_DAYS;
  const batchSize = options.batchSize ?? EMAIL_OUTBOX_PRUNE_BATCH;
  const now = options.now ? sql`${options.now.toISOString()}::timestamptz` : sql`now()`;
  let deleted = 0;
  for (let batch = 0; batch < (options.maxBatches ?? 100); batch++) {
    // The WHERE clause repeats the index's predicate and expression word for word (schema/alerts.ts), so
    // the planner uses it.
    const result = await db.execute(sql`
      DELETE FROM email_outbox WHERE id IN (
        SELECT id FROM email_outbox
        WHERE status IN ('sent', 'logged', 'skipped', 'failed')
          AND coalesce(sent_at, give_up_at) < ${now} - make_interval(days => ${days})
        ORDER BY coalesce(sent_at, give_up_at)
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id`);
    const count = sqlRows<{ id: string }>(result).length;
    deleted += count;
    if (count < batchSize) break;
  }
  if (deleted > 0) logger.info({ deleted, retentionDays: days }, "email outbox: settled rows pruned");
  return { deleted };
}

import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { adjustCredits } from "@/admin/adjust-credits";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { CreditsError } from "@/credits/errors";
import { sqlStateOf } from "@/credits/sql-rows";
import { bulkBatch, bulkRow } from "@/db/schema";
import type { Database } from "@/db/types";

/** Rows per transaction when a batch is applied. */
export const BULK_CHUNK_ROWS = 500;

export type ApplyBulkOptions = {
  chunkRows?: number;
  /** Called after each chunk commits (tests stop the run here, as a crash between chunks would). */
  afterChunk?: (chunk: number) => void | Promise<void>;
};

/**
 * Marks a previewed batch for applying (`queued`), with an audit entry naming the operator who applied it.
 * Returns false when the batch was already queued, running or done: applying twice applies once.
 */
export async function queueBulkBatch(db: Database, batchId: string, actor: Actor): Promise<boolean> {
  return db.transaction(async (tx) => {
    const queued = await tx
      .update(bulkBatch)
      .set({ status: "queued", appliedAt: sql`now()` })
      .where(and(eq(bulkBatch.id, batchId), eq(bulkBatch.status, "previewed")))
      .returning({ id: bulkBatch.id });
    if (queued.length === 0) return false;
    await recordAudit(tx, actor, "credits.bulk_apply", null, { batchId });
    return true;
  });
}

/**
 * The background job's body: applies a queued or running batch's valid rows, `chunkRows` (500) per
 * transaction, each through the operators' adjustment path (adjust-credits.ts: a grant adds a lot, a
 * revoke spends as an `adjustment` and never makes debt), so the money rules are the ledger's own.
 * Each row's idempotency key is `creditkit/admin:bulk:<batch's SHA-256>:<row number>` (the rows' hash,
 * preview-bulk-file.ts; the file's for a batch previewed by an earlier version, which keeps its keys across
 * an upgrade), and a row's ledger
 * entry, its audit entry (with `batchId`, `row` and the operator) and its status change commit in one
 * transaction: a run stopped anywhere (a crash, a killed job, a retry on another instance) resumes at
 * the first row still `valid` and applies each row exactly once. The batch row is locked per chunk, so two
 * runs of one batch take turns. A row the ledger refuses (too few credits by now, an expiry now past) is
 * marked `failed` with an audit entry, and the run goes on; any other error ends the chunk unapplied and
 * is thrown (the job is retried). Rows the preview refused get their audit entries when the run starts.
 * Returns the number of rows handled by this run.
 */
export async function applyBulkBatch(
  db: Database,
  batchId: string,
  options: ApplyBulkOptions = {},
): Promise<number> {
  const chunkRows = options.chunkRows ?? BULK_CHUNK_ROWS;
  let handled = 0;
  for (let chunk = 1; ; chunk++) {
    const more = await db.transaction(async (tx) => {
      const [batch] = await tx.select().from(bulkBatch).where(eq(bulkBatch.id, batchId)).for("update");
      if (!batch || (batch.status !== "queued" && batch.status !== "running")) return false;
      const actor: Actor = { userId: batch.operatorUserId, label: batch.operatorLabel };
      if (batch.status === "queued") {
        // Once, in the transaction that starts the run: the refused rows' audit entries.
        await tx.execute(sql`
          INSERT INTO audit_log (actor_user_id, actor_label, action, target_user_id, details)
          SELECT ${actor.userId}, ${actor.label}, 'credits.bulk_row_refused', user_id,
                 jsonb_build_object('batchId', batch_id, 'row', row_number, 'error', error,
                                    'userRef', user_ref, 'amount', amount, 'reason', reason)
          FROM bulk_row WHERE batch_id = ${batchId} AND status = 'invalid'`);
        await tx.update(bulkBatch).set({ status: "running" }).where(eq(bulkBatch.id, batchId));
      }
      const rows = await tx
        .select()
        .from(bulkRow)
        .where(and(eq(bulkRow.batchId, batchId), eq(bulkRow.status, "valid")))
        .orderBy(asc(bulkRow.rowNumber))
        .limit(chunkRows);
      if (rows.length === 0) {
        await tx
          .update(bulkBatch)
          .set({ status: "done", finishedAt: sql`now()` })
          .where(eq(bulkBatch.id, batchId));
        return false;
      }
      const applied: { rowNumber: number; entryId: number }[] = [];
      const failed: { rowNumber: number; error: string }[] = [];
      for (const row of rows) {
        const auditDetails = { batchId, row: row.rowNumber };
        try {
          const result = await adjustCredits(
            tx,
            {
              userId: row.userId as string,
              delta: row.amount as number,
              reason: row.reason,
              ...(row.expireDays ? { expireDays: row.expireDays } : {}),
              ...(row.expiresAt ? { expiresAt: row.expiresAt } : {}),
              requestId: `bulk:${batch.fileSha256}:${row.rowNumber}`,
              auditDetails,
            },
            actor,
          );
          applied.push({ rowNumber: row.rowNumber, entryId: result.entryId });
        } catch (error) {
          // A refusal of this row's own (a rule of the ledger), or its account deleted since the preview (the
          // foreign-key violation of creating it again): the row fails and the run goes on, since a retry
          // would stop at the same row for ever. Anything else stops the chunk (the job is retried).
          const accountGone = sqlStateOf(error) === "23503";
          if (!(error instanceof CreditsError) && !accountGone) throw error;
          const code = accountGone
            ? "unknown_user"
            : error instanceof CreditsError && error.code === "insufficient_credits"
              ? "insufficient_credits"
              : "ledger_refused";
          failed.push({ rowNumber: row.rowNumber, error: code });
          await recordAudit(tx, actor, "credits.bulk_row_failed", row.userId, {
            ...auditDetails,
            error: code,
            message: (error as Error).message,
          });
        }
      }
      if (applied.length)
        await tx.execute(sql`
          UPDATE bulk_row r SET status = 'applied', entry_id = v.entry_id
          FROM unnest(${`{${applied.map((a) => a.rowNumber).join(",")}}`}::int[],
                      ${`{${applied.map((a) => a.entryId).join(",")}}`}::bigint[]) AS v(row_number, entry_id)
          WHERE r.batch_id = ${batchId} AND r.row_number = v.row_number`);
      for (const code of new Set(failed.map((f) => f.error)))
        await tx
          .update(bulkRow)
          .set({ status: "failed", error: code })
          .where(
            and(
              eq(bulkRow.batchId, batchId),
              inArray(
                bulkRow.rowNumber,
                failed.filter((f) => f.error === code).map((f) => f.rowNumber),
              ),
            ),
          );
      await tx
        .update(bulkBatch)
        .set({
          appliedRows: sql`${bulkBatch.appliedRows} + ${applied.length}`,
          failedRows: sql`${bulkBatch.failedRows} + ${failed.length}`,
        })
        .where(eq(bulkBatch.id, batchId));
      handled += rows.length;
      return true;
    });
    if (!more) return handled;
    await options.afterChunk?.(chunk);
  }
}

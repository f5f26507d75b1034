import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import { bulkBatch, bulkRow } from "@/db/schema";
import type { Database } from "@/db/types";

export type BulkBatch = typeof bulkBatch.$inferSelect;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The batch with this id, or null (also for an id that is not a UUID). */
export async function getBulkBatch(db: Database, batchId: string): Promise<BulkBatch | null> {
  if (!UUID.test(batchId)) return null;
  const [batch] = await db.select().from(bulkBatch).where(eq(bulkBatch.id, batchId));
  return batch ?? null;
}

/** The newest batches first (at most `limit`), without placeholders of uploads still being read. */
export async function listBulkBatches(db: Database, limit = 100): Promise<BulkBatch[]> {
  return db
    .select()
    .from(bulkBatch)
    .where(sql`${bulkBatch.fileSha256} NOT LIKE 'pending:%'`)
    .orderBy(desc(bulkBatch.createdAt))
    .limit(limit);
}

/** A batch's refused rows (by the preview or the ledger), in file order, at most `limit`. */
export async function listFailedBulkRows(db: Database, batchId: string, limit = 500) {
  return db
    .select({
      rowNumber: bulkRow.rowNumber,
      userRef: bulkRow.userRef,
      amount: bulkRow.amount,
      reason: bulkRow.reason,
      error: bulkRow.error,
    })
    .from(bulkRow)
    .where(and(eq(bulkRow.batchId, batchId), inArray(bulkRow.status, ["invalid", "failed"])))
    .orderBy(asc(bulkRow.rowNumber))
    .limit(limit);
}

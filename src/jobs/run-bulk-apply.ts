import { inArray } from "drizzle-orm";
import { applyBulkBatch } from "@/admin/bulk/apply-bulk-batch";
import { bulkBatch } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";

/** pg-boss queue of bulk batches to apply (one job per batch). */
export const BULK_APPLY_QUEUE = "bulk-apply";

// Symbol.for: start-jobs.ts and the route handlers may load this module in different module graphs.
const SENDER = Symbol.for("creditkit.bulkApplySender");
type Sender = (batchId: string) => Promise<void>;
const registry = globalThis as unknown as Record<symbol, Sender | undefined>;
const runningHere = new Set<string>();

/** Set by startJobs on PostgreSQL: sends the batch to the pg-boss queue. */
export function setBulkApplySender(sender: Sender | undefined): void {
  registry[SENDER] = sender;
}

function runInProcess(db: Database, batchId: string): void {
  if (runningHere.has(batchId)) return;
  runningHere.add(batchId);
  applyBulkBatch(db, batchId)
    .catch((error: unknown) => logger.error({ err: error, batchId }, "bulk apply failed; it resumes later"))
    .finally(() => runningHere.delete(batchId));
}

/**
 * Starts applying a queued batch in the background: on pg-boss when the jobs run there (a crashed or
 * failed job is retried, on any instance), otherwise in this process. Either way the run resumes at the
 * first unapplied row (apply-bulk-batch.ts), so a second start does no harm.
 */
export async function startBulkApply(db: Database, batchId: string): Promise<void> {
  const sender = registry[SENDER];
  if (sender) await sender(batchId);
  else runInProcess(db, batchId);
}

/**
 * Resumes every batch left queued or running (a process that stopped mid-file): on the embedded database
 * every few seconds, in process; returns how many it started here.
 */
export async function resumeBulkBatches(db: Database): Promise<number> {
  const open = await db
    .select({ id: bulkBatch.id })
    .from(bulkBatch)
    .where(inArray(bulkBatch.status, ["queued", "running"]));
  for (const { id } of open) runInProcess(db, id);
  return open.length;
}

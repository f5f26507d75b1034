import { queueBulkBatch } from "@/admin/bulk/apply-bulk-batch";
import { getBulkBatch } from "@/admin/bulk/list-bulk-batches";
import { getDb } from "@/db/client";
import { startBulkApply } from "@/jobs/run-bulk-apply";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { withAdmin } from "@/server/with-admin";

/**
 * POST /api/admin/bulk/{batchId}/apply: applies a previewed batch in the background (src/jobs/run-bulk-apply.ts)
 * and answers 202 with the batch (GET /api/admin/bulk/{batchId} shows the progress). Applying again, or a
 * batch already applied, starts nothing new. 401 without a session, 404 for a non-admin or an unknown batch.
 */
export default defineRoute({
  method: "POST",
  path: "/api/admin/bulk/{batchId}/apply",
  handler: withAdmin<{ batchId: string }>(async (_request, admin, params) => {
    const db = await getDb();
    const batch = await getBulkBatch(db, params.batchId);
    if (!batch) return jsonError(404, "not_found", "No such batch.");
    if (await queueBulkBatch(db, batch.id, { userId: admin.id, label: admin.email }))
      await startBulkApply(db, batch.id);
    return Response.json(await getBulkBatch(db, batch.id), { status: 202 });
  }),
});

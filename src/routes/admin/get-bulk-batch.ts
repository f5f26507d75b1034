import { getBulkBatch } from "@/admin/bulk/list-bulk-batches";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { withAdmin } from "@/server/with-admin";

/**
 * GET /api/admin/bulk/{batchId}: a batch's status, row counts and credit totals (the page polls it for its
 * progress bar). 401 without a session, 404 for a non-admin or an unknown batch.
 */
export default defineRoute({
  method: "GET",
  path: "/api/admin/bulk/{batchId}",
  handler: withAdmin<{ batchId: string }>(async (_request, _admin, params) => {
    const batch = await getBulkBatch(await getDb(), params.batchId);
    return batch ? Response.json(batch) : jsonError(404, "not_found", "No such batch.");
  }),
});

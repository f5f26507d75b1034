import { getDb } from "@/db/client";
import { limitExports } from "@/limits/rate-limit";
import { defineRoute } from "@/server/define-route";
import { exportTransactionsCsv } from "@/server/export-transactions-csv";
import { csvDownload, filterOf, historyExportQuerySchema } from "@/server/history-query";
import { readQuery } from "@/server/request";
import { withAdmin } from "@/server/with-admin";
import { assertUserExists } from "@/server/with-api-key";

/**
 * GET /api/admin/users/{userId}/transactions/export: any user's filtered history as CSV for operators,
 * the same file as the user's own export (src/routes/credits/export-transactions.ts), named
 * `credits-history-<userId>-YYYY-MM-DD.csv`. 401 without a session, 404 for a non-admin or an unknown
 * user, 400 for a bad filter, 429 past RATE_LIMIT_EXPORTS_PER_MINUTE (counted on the operator).
 */
export default defineRoute({
  method: "GET",
  path: "/api/admin/users/{userId}/transactions/export",
  handler: withAdmin<{ userId: string }>(async (request, admin, params) => {
    const filter = filterOf(readQuery(request, historyExportQuerySchema));
    const db = await getDb();
    await assertUserExists(db, params.userId);
    await limitExports(admin.id);
    return csvDownload(exportTransactionsCsv(db, { userId: params.userId, filter }), params.userId);
  }),
});

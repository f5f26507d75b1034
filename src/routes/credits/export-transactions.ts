import { getDb } from "@/db/client";
import { limitExports } from "@/limits/rate-limit";
import { defineRoute } from "@/server/define-route";
import { exportTransactionsCsv } from "@/server/export-transactions-csv";
import { csvDownload, filterOf, historyExportQuerySchema } from "@/server/history-query";
import { readQuery } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/transactions/export: the signed-in user's history as CSV, exactly the entries the same
 * filter lists on GET /api/credits/transactions (every page of it), newest first. Streamed in batches
 * with backpressure (src/server/export-transactions-csv.ts: columns, CSV-injection protection), saved as
 * `credits-history-YYYY-MM-DD.csv`. 401 without a session, 400 for a bad filter, 429 past
 * RATE_LIMIT_EXPORTS_PER_MINUTE.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/transactions/export",
  handler: withUser(async (request, user) => {
    const filter = filterOf(readQuery(request, historyExportQuerySchema));
    await limitExports(user.id);
    // The caller's own history only: the user id comes from the session, never from the request.
    return csvDownload(exportTransactionsCsv(await getDb(), { userId: user.id, filter }));
  }),
});

import { getLedgerOverview } from "@/admin/get-ledger-overview";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withAdmin } from "@/server/with-admin";

/**
 * GET /api/admin/overview?days=7|30|90 or ?from=YYYY-MM-DD&to=YYYY-MM-DD: the operators' overview of the
 * whole ledger (src/admin/get-ledger-overview.ts: credits by kind of movement, revenue per currency in minor
 * units, the outstanding liability, live subscriptions). No query means the last 30 days. 401 without a
 * session, 404 for a non-admin (the console is not advertised, like every admin route), 400 for a bad range.
 */
export default defineRoute({
  method: "GET",
  path: "/api/admin/overview",
  handler: withAdmin(async (request) => {
    const params = Object.fromEntries(new URL(request.url).searchParams);
    const input = Object.keys(params).length === 0 ? { days: 30 } : params;
    return Response.json(await getLedgerOverview(await getDb(), input));
  }),
});

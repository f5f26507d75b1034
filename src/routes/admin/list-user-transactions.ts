import { listTransactions } from "@/credits/list-transactions";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { browserTransactionItem, filterOf, historyPageQuerySchema } from "@/server/history-query";
import { readQuery } from "@/server/request";
import { withAdmin } from "@/server/with-admin";
import { assertUserExists } from "@/server/with-api-key";

/**
 * GET /api/admin/users/{userId}/transactions: any user's ledger entries for the admin console, with the
 * same query and answer as GET /api/credits/transactions. 401 without a session, 404 for a non-admin (the
 * console is not advertised) or an unknown user, 400 for a bad `limit`, `cursor` or filter.
 */
export default defineRoute({
  method: "GET",
  path: "/api/admin/users/{userId}/transactions",
  handler: withAdmin<{ userId: string }>(async (request, _admin, params) => {
    const { limit, cursor, ...filter } = readQuery(request, historyPageQuerySchema);
    const db = await getDb();
    await assertUserExists(db, params.userId);
    const page = await listTransactions(db, {
      userId: params.userId,
      limit,
      ...(cursor ? { cursor } : {}),
      filter: filterOf(filter),
    });
    return Response.json({ items: page.items.map(browserTransactionItem), nextCursor: page.nextCursor });
  }),
});

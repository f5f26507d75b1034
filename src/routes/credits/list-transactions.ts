import { listTransactions } from "@/credits/list-transactions";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { browserTransactionItem, filterOf, historyPageQuerySchema } from "@/server/history-query";
import { readQuery } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/transactions: the signed-in user's ledger entries, newest first, a page at a time,
 * optionally filtered (`type`, `feature`, `from`/`to` ISO 8601 instants with `to` exclusive, `search` in
 * descriptions; src/server/history-query.ts). `{items: [{id, type, amount (credits), balanceAfter
 * (credits), description, createdAt, packageId?, planId?, periodStart?, periodEnd?, periodKind?, usableUntil?,
 * lateReason?, feature?}], nextCursor}` (`periodKind` `trial` for a trial's credits; `usableUntil` on a
 * period's grant made after the period ended: when its credits stop being usable, with `lateReason`
 * `paid_late` or `issued_late`); pass `nextCursor` as `cursor` with the same filter for the next page. 401 without a session, 400 for a bad `limit`, `cursor` or filter.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/transactions",
  handler: withUser(async (request, user) => {
    const { limit, cursor, ...filter } = readQuery(request, historyPageQuerySchema);
    // The caller's own history only: the user id comes from the session, never from the request.
    const page = await listTransactions(await getDb(), {
      userId: user.id,
      limit,
      ...(cursor ? { cursor } : {}),
      filter: filterOf(filter),
    });
    // A field is present only when the entry has it: the package a purchase was for, or the plan and
    // billing period of a subscription's entry, so the page words each entry in the reader's language.
    return Response.json({ items: page.items.map(browserTransactionItem), nextCursor: page.nextCursor });
  }),
});

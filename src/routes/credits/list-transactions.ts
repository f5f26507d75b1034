import { z } from "zod";
import { listTransactions } from "@/credits/list-transactions";
import { getDb } from "@/db/client";
import { queryIntegerSchema } from "@/lib/strict-input";
import { defineRoute } from "@/server/define-route";
import { readQuery } from "@/server/request";
import { withUser } from "@/server/with-user";

const querySchema = z
  .object({
    limit: queryIntegerSchema({ min: 1, max: 100 }, 20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, "cursor must come from a previous page's nextCursor")
      .optional(),
  })
  .strict();

/**
 * GET /api/credits/transactions: the signed-in user's ledger entries, newest first, a page at a time.
 * `{items: [{id, type, amount (credits), balanceAfter (credits), description, createdAt, packageId?, planId?,
 * periodStart?, periodEnd?, periodKind?}], nextCursor}` (`periodKind` `trial` for a trial's credits); 401 without a session, 400 for a bad `limit` or `cursor`.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/transactions",
  handler: withUser(async (request, user) => {
    const query = readQuery(request, querySchema);
    // The caller's own history only: the user id comes from the session, never from the request.
    const page = await listTransactions(await getDb(), { userId: user.id, ...query });
    return Response.json({
      // A field is present only when the entry has it: the package a purchase was for, or the plan and
      // billing period of a subscription's entry, so the page words each entry in the reader's language.
      items: page.items.map(
        ({ reference: _reference, packageId, planId, periodStart, periodEnd, periodKind, ...item }) => ({
          ...item,
          ...(packageId ? { packageId } : {}),
          ...(planId ? { planId } : {}),
          ...(periodStart ? { periodStart } : {}),
          ...(periodEnd ? { periodEnd } : {}),
          ...(periodKind ? { periodKind } : {}),
        }),
      ),
      nextCursor: page.nextCursor,
    });
  }),
});

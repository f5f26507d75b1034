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

/** GET /api/credits/transactions: the signed-in user's ledger entries, newest first, a page at a time. */
export default defineRoute({
  method: "GET",
  path: "/api/credits/transactions",
  handler: withUser(async (request, user) => {
    const query = readQuery(request, querySchema);
    // The caller's own history only: the user id comes from the session, never from the request.
    const page = await listTransactions(await getDb(), { userId: user.id, ...query });
    return Response.json({
      items: page.items.map(({ id, type, amount, balanceAfter, description, packageId, createdAt }) => ({
        id,
        type,
        amount,
        balanceAfter,
        description,
        ...(packageId ? { packageId } : {}),
        createdAt,
      })),
      nextCursor: page.nextCursor,
    });
  }),
});

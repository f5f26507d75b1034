import { z } from "zod";
import { listTransactions } from "@/credits/list-transactions";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { readQuery } from "@/server/request";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { transactionsQuerySchema, transactionsResponseSchema } from "@/service-api/schemas";

/** GET /api/v1/users/{userId}/transactions: ledger entries, newest first, a page at a time. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/users/{userId}/transactions",
  scope: "read",
  operation: {
    summary: "List a user's ledger entries",
    description: "Newest first. Pass `nextCursor` as `cursor` to get the next page.",
    query: z.object({
      limit: z.number().int().min(1).max(100).default(20).optional().meta({
        description:
          "Entries per page, in plain decimal digits (`1e2`, `0x10`, `10.0` and ` 10` are refused with 400).",
      }),
      cursor: z
        .string()
        .regex(/^[0-9]{1,15}$/)
        .optional()
        .meta({ description: "The `nextCursor` of the previous page." }),
    }),
    ok: { status: 200, schema: transactionsResponseSchema },
    errors: [400, 401, 404],
  },
  handler: withApiKey<{ userId: string }>(async ({ request, db, params }) => {
    const query = readQuery(request, transactionsQuerySchema);
    await assertUserExists(db, params.userId);
    const page = await listTransactions(db, { userId: params.userId, ...query });
    return jsonResponse({
      items: page.items.map(({ id, type, amount, balanceAfter, description, createdAt }) => ({
        id,
        type,
        amount,
        balanceAfter,
        description,
        createdAt,
      })),
      nextCursor: page.nextCursor,
    });
  }),
});

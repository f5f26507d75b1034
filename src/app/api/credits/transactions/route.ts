import { z } from "zod";
import { listTransactions } from "@/credits/list-transactions";
import { getDb } from "@/db/client";
import { queryIntegerSchema } from "@/lib/strict-input";
import { readQuery } from "@/server/request";
import { withUser } from "@/server/with-user";

export const dynamic = "force-dynamic";

const querySchema = z
  .object({
    limit: queryIntegerSchema({ min: 1, max: 100 }, 20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, "cursor must come from a previous page's nextCursor")
      .optional(),
  })
  .strict();

export const GET = withUser(async (request, user) => {
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
});

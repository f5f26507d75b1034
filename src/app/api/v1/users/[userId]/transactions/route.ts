import { listTransactions } from "@/credits/list-transactions";
import { jsonResponse } from "@/server/json-response";
import { readQuery } from "@/server/request";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { transactionsQuerySchema } from "@/service-api/schemas";

export const dynamic = "force-dynamic";

export const GET = withApiKey<{ userId: string }>(async ({ request, db, params }) => {
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
});

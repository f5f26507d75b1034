import { listTransactions } from "@/credits/list-transactions";
import { jsonResponse } from "@/server/json-response";
import { RequestError } from "@/server/request";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { transactionsQuerySchema } from "@/service-api/schemas";

export const dynamic = "force-dynamic";

export const GET = withApiKey<{ userId: string }>(async ({ request, db, params }) => {
  const parsed = transactionsQuerySchema.safeParse(Object.fromEntries(new URL(request.url).searchParams));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RequestError(
      "invalid_input",
      `${issue?.path.join(".") || "query"}: ${issue?.message ?? "invalid"}`,
    );
  }
  await assertUserExists(db, params.userId);
  const page = await listTransactions(db, { userId: params.userId, ...parsed.data });
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

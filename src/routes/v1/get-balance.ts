import { getBalance } from "@/credits/get-balance";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { balanceResponseSchema } from "@/service-api/schemas";

/** GET /api/v1/users/{userId}/balance: credits (total, held, available) and debt, all integers. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/users/{userId}/balance",
  operation: {
    summary: "Get a user's balance",
    description:
      "Total credits, credits held by open holds, credits available to spend, and outstanding debt.",
    ok: { status: 200, schema: balanceResponseSchema },
    errors: [401, 404],
  },
  handler: withApiKey<{ userId: string }>(async ({ db, params }) => {
    await assertUserExists(db, params.userId);
    return jsonResponse(await getBalance(db, params.userId));
  }),
});

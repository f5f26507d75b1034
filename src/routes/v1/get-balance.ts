import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { readAccountBalance } from "@/service-api/read-account-balance";
import { balanceResponseSchema } from "@/service-api/schemas";

/**
 * GET /api/v1/users/{userId}/balance: credits (total, held, available) and debt, all integers, and the plan
 * the user is on (`plan`: id, name, status, creditsPerPeriod, currentPeriodEnd, cancelAtPeriodEnd; Free
 * without a subscription). 401 without a valid key, 404 for an unknown user.
 */
export default defineRoute({
  method: "GET",
  path: "/api/v1/users/{userId}/balance",
  scope: "read",
  operation: {
    summary: "Get a user's balance",
    description:
      "Total credits, credits held by open holds, credits available to spend, outstanding debt, and the plan the user is on (Free without a subscription).",
    ok: { status: 200, schema: balanceResponseSchema },
    errors: [401, 404],
  },
  handler: withApiKey<{ userId: string }>(async ({ db, params }) => {
    await assertUserExists(db, params.userId);
    return jsonResponse(await readAccountBalance(db, params.userId));
  }),
});

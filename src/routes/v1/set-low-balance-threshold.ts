import { setLowBalanceThreshold } from "@/credits/set-low-balance-threshold";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { readJsonBody } from "@/server/request";
import { assertUserExists, withApiKey } from "@/server/with-api-key";
import { recordApiUse } from "@/service-api/record-api-use";
import {
  lowBalanceThresholdBodySchema,
  lowBalanceThresholdResponseSchema,
} from "@/service-api/webhook-schemas";

/**
 * PUT /api/v1/users/{userId}/low-balance-threshold: sets the threshold of the `balance.low` event.
 * Idempotent by nature (it sets a value), so like every PUT of the service API it takes no Idempotency-Key.
 */
export default defineRoute({
  method: "PUT",
  path: "/api/v1/users/{userId}/low-balance-threshold",
  scope: "admin",
  operation: {
    summary: "Set the low-balance threshold",
    description:
      "Credits under which the available balance (balance minus held) counts as low: when a change takes it from at or above the threshold to below it, a `balance.low` event is sent and the account's low-balance alert fires (one email to the account's address, and the banner on a user's credits page), once per crossing. Setting it sends nothing by itself. It replaces a percentage threshold set on the credits page. `null` turns it off.",
    body: lowBalanceThresholdBodySchema,
    ok: { status: 200, schema: lowBalanceThresholdResponseSchema },
    errors: [400, 401, 404],
  },
  handler: withApiKey<{ userId: string }>(async ({ request, db, caller, params }) => {
    const body = await readJsonBody(request, lowBalanceThresholdBodySchema);
    // The change and its audit entry commit together, or neither does.
    const result = await db.transaction(async (tx) => {
      await assertUserExists(tx, params.userId);
      const saved = await setLowBalanceThreshold(tx, { userId: params.userId, threshold: body.threshold });
      await recordApiUse(tx, caller, "account.low_balance_threshold", params.userId, {
        threshold: body.threshold,
      });
      return saved;
    });
    return jsonResponse({ userId: params.userId, ...result }, { status: 200 });
  }),
});

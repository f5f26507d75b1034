import { setLowBalanceThreshold } from "@/credits/set-low-balance-threshold";
import { defineRoute } from "@/server/define-route";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { recordApiUse } from "@/service-api/record-api-use";
import {
  lowBalanceThresholdBodySchema,
  lowBalanceThresholdResponseSchema,
} from "@/service-api/webhook-schemas";

/** PUT /api/v1/users/{userId}/low-balance-threshold: sets the threshold of the `balance.low` event. */
export default defineRoute({
  method: "PUT",
  path: "/api/v1/users/{userId}/low-balance-threshold",
  scope: "admin",
  operation: {
    summary: "Set the low-balance threshold",
    description:
      "Credits under which the available balance (balance minus held) counts as low: when a change takes it from at or above the threshold to below it, a `balance.low` event is sent. Setting it sends nothing by itself. `null` turns it off.",
    body: lowBalanceThresholdBodySchema,
    ok: { status: 200, schema: lowBalanceThresholdResponseSchema },
    errors: [400, 401, 404],
  },
  handler: withApiMutation<{ userId: string }, typeof lowBalanceThresholdBodySchema>(
    lowBalanceThresholdBodySchema,
    async ({ tx, caller, params, body }) => {
      await assertUserExists(tx, params.userId);
      const result = await setLowBalanceThreshold(tx, { userId: params.userId, threshold: body.threshold });
      await recordApiUse(tx, caller, "account.low_balance_threshold", params.userId, {
        threshold: body.threshold,
      });
      return { status: 200, body: { userId: params.userId, ...result } };
    },
  ),
});

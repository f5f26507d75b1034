import { createHold } from "@/credits/create-hold";
import { defineRoute } from "@/server/define-route";
import { refusalAnswer } from "@/server/http-errors";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { apiLedgerKey } from "@/service-api/api-ledger-key";
import { recordApiUse } from "@/service-api/record-api-use";
import { holdBodySchema, holdResponseSchema } from "@/service-api/schemas";

/** POST /api/v1/users/{userId}/holds: reserves credits until captured, released or past its TTL (seconds). */
export default defineRoute({
  method: "POST",
  path: "/api/v1/users/{userId}/holds",
  scope: "holds",
  operation: {
    summary: "Reserve credits",
    description: "Reserves credits for work whose cost is known later. Capture or release it before its TTL.",
    body: holdBodySchema,
    ok: { status: 201, schema: holdResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402],
  },
  handler: withApiMutation<{ userId: string }, typeof holdBodySchema>(
    holdBodySchema,
    async ({ tx, caller, params, body, idempotencyKey }) => {
      await assertUserExists(tx, params.userId);
      const result = await createHold(tx, {
        userId: params.userId,
        amount: body.amount,
        description: body.description ?? `Reserved via API key ${caller.apiKeyName}`,
        idempotencyKey: apiLedgerKey(caller.apiKeyId, idempotencyKey),
        ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}),
      });
      if (!result.ok) return refusalAnswer(result, "Not enough credits available.");
      // Once per change: a call that found the work already done (replayed) changed nothing.
      if (!result.replayed)
        await recordApiUse(tx, caller, "hold.create", params.userId, {
          amount: body.amount,
          holdId: result.holdId,
        });
      return { status: 201, body: { holdId: result.holdId, expiresAt: result.expiresAt.toISOString() } };
    },
  ),
});

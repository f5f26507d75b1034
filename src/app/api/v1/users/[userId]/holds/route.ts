import { createHold } from "@/credits/create-hold";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { apiLedgerKey } from "@/service-api/api-ledger-key";
import { holdBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ userId: string }, typeof holdBodySchema>(
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
    if (!result.ok) {
      return {
        status: 402,
        body: {
          error: {
            code: "insufficient_credits",
            message: "Not enough credits available.",
            available: result.available,
          },
        },
      };
    }
    return { status: 201, body: { holdId: result.holdId, expiresAt: result.expiresAt.toISOString() } };
  },
);

import { consumeCredits } from "@/credits/consume-credits";
import { assertUserExists, withApiMutation } from "@/server/with-api-key";
import { consumeBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ userId: string }, typeof consumeBodySchema>(
  consumeBodySchema,
  async ({ tx, caller, params, body, idempotencyKey }) => {
    await assertUserExists(tx, params.userId);
    const result = await consumeCredits(tx, {
      userId: params.userId,
      amount: body.amount,
      description: body.description ?? `Usage via API key ${caller.apiKeyName}`,
      idempotencyKey: `api:${caller.apiKeyId}:${idempotencyKey}`,
      metadata: { ...body.metadata, apiKeyId: caller.apiKeyId },
    });
    if (!result.ok) {
      return {
        status: 402,
        body: {
          error: { code: "insufficient_credits", message: "Not enough credits.", available: result.balance },
        },
      };
    }
    return { status: 200, body: { entryId: String(result.entryId), balance: result.balance } };
  },
);

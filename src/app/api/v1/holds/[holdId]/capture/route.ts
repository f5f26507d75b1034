import { captureHold } from "@/credits/capture-hold";
import { NotFoundError } from "@/credits/errors";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { captureBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ holdId: string }, typeof captureBodySchema>(
  captureBodySchema,
  async ({ tx, params, body }) => {
    if (!isUuid(params.holdId)) throw new NotFoundError("Hold");
    const result = await captureHold(tx, {
      holdId: params.holdId,
      ...(body.amount !== undefined ? { amount: body.amount } : {}),
    });
    return {
      status: 200,
      body: { entryId: result.entryId === null ? null : String(result.entryId), balance: result.balance },
    };
  },
);

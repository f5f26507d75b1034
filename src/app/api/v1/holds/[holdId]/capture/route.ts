import { NotFoundError } from "@/credits/errors";
import { parseInput } from "@/credits/parse-input";
import { captureHoldInputSchema } from "@/credits/schemas";
import { settleHold } from "@/credits/settle-hold";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { captureBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ holdId: string }, typeof captureBodySchema>(
  captureBodySchema,
  async ({ tx, params, body }) => {
    if (!isUuid(params.holdId)) throw new NotFoundError("Hold");
    const input = parseInput(captureHoldInputSchema, { holdId: params.holdId, ...body });
    const result = await settleHold(tx, {
      holdId: input.holdId,
      outcome: "captured",
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
    });
    // Credits of the hold expired with their lots and the rest cannot be paid: 402, the hold stays open and
    // the expiry is committed (throwing here would roll it back).
    if (result.status === "insufficient_credits") {
      return {
        status: 402,
        body: {
          error: {
            code: "insufficient_credits",
            message: "Not enough credits: part of the hold expired with its credits.",
            available: result.available,
          },
        },
      };
    }
    // A hold past its TTL is released instead of captured. That is answered as a 409 but committed, so its
    // credits are available again at once (throwing here would roll the release back).
    if (result.status !== "captured") {
      return {
        status: 409,
        body: { error: { code: "hold_not_open", message: `This hold is ${result.status}, not open.` } },
      };
    }
    return {
      status: 200,
      body: { entryId: result.entryId === null ? null : String(result.entryId), balance: result.balance },
    };
  },
);

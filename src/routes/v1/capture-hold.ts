import { NotFoundError } from "@/credits/errors";
import { parseInput } from "@/credits/parse-input";
import { captureHoldInputSchema } from "@/credits/schemas";
import { settleHold } from "@/credits/settle-hold";
import { defineRoute } from "@/server/define-route";
import { refusalAnswer } from "@/server/http-errors";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { recordApiUse } from "@/service-api/record-api-use";
import { captureBodySchema, captureResponseSchema } from "@/service-api/schemas";

/** POST /api/v1/holds/{holdId}/capture: spends the actual amount (credits) and returns the rest. */
export default defineRoute({
  method: "POST",
  path: "/api/v1/holds/{holdId}/capture",
  scope: "holds",
  operation: {
    summary: "Capture a hold",
    description:
      "Spends the actual amount (default: all reserved) and returns the rest, which repays any debt first. Credits of the hold whose lot expired are gone; a shortfall is taken from available credits, or 402 leaves the hold open.",
    body: captureBodySchema,
    ok: { status: 200, schema: captureResponseSchema },
    errors: [400, 401, 402, 404, 409],
    replayedErrors: [402, 409],
  },
  handler: withApiMutation<{ holdId: string }, typeof captureBodySchema>(
    captureBodySchema,
    async ({ tx, caller, params, body }) => {
      if (!isUuid(params.holdId)) throw new NotFoundError("Hold");
      const input = parseInput(captureHoldInputSchema, { holdId: params.holdId, ...body });
      const result = await settleHold(tx, {
        holdId: input.holdId,
        outcome: "captured",
        ...(input.amount !== undefined ? { amount: input.amount } : {}),
      });
      // Credits of the hold expired with their lots and the rest cannot be paid: 402, the hold stays open
      // and the expiry is committed (throwing here would roll it back).
      if (!result.ok) {
        return refusalAnswer(
          { ok: false, reason: result.reason, available: result.available },
          "Not enough credits: part of the hold expired with its credits.",
        );
      }
      // A hold past its TTL is released instead of captured. That is answered as a 409 but committed, so
      // its credits are available again at once (throwing here would roll the release back).
      if (result.status !== "captured") {
        return refusalAnswer(
          { ok: false, reason: "hold_not_open" },
          `This hold is ${result.status}, not open.`,
        );
      }
      // Once per change: a call that found the work already done (replayed) changed nothing.
      if (!result.replayed)
        await recordApiUse(tx, caller, "hold.capture", result.userId, {
          amount: result.captured,
          holdId: result.holdId,
          entryId: result.entryId,
        });
      return {
        status: 200,
        body: { entryId: result.entryId === null ? null : String(result.entryId), balance: result.balance },
      };
    },
  ),
});

import { NotFoundError } from "@/credits/errors";
import { releaseHold } from "@/credits/release-hold";
import { defineRoute } from "@/server/define-route";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { recordApiUse } from "@/service-api/record-api-use";
import { releaseBodySchema, releaseResponseSchema } from "@/service-api/schemas";

/** POST /api/v1/holds/{holdId}/release: returns every reserved credit that has not expired. */
export default defineRoute({
  method: "POST",
  path: "/api/v1/holds/{holdId}/release",
  scope: "holds",
  operation: {
    summary: "Release a hold",
    description:
      "Returns every reserved credit that has not expired with its lot; it repays any debt first. The body may be empty or `{}`; any field is refused (400).",
    ok: { status: 200, schema: releaseResponseSchema },
    errors: [400, 401, 404, 409],
  },
  handler: withApiMutation<{ holdId: string }, typeof releaseBodySchema>(
    releaseBodySchema,
    async ({ tx, caller, params }) => {
      if (!isUuid(params.holdId)) throw new NotFoundError("Hold");
      const result = await releaseHold(tx, { holdId: params.holdId });
      // Once per change: a call that found the work already done (replayed) changed nothing.
      if (!result.replayed)
        await recordApiUse(tx, caller, "hold.release", result.userId, {
          amount: result.returned,
          holdId: result.holdId,
        });
      return { status: 200, body: { holdId: result.holdId, status: "released", balance: result.balance } };
    },
  ),
});

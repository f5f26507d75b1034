import { NotFoundError } from "@/credits/errors";
import { releaseHold } from "@/credits/release-hold";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { releaseBodySchema } from "@/service-api/schemas";

export const POST = withApiMutation<{ holdId: string }, typeof releaseBodySchema>(
  releaseBodySchema,
  async ({ tx, params }) => {
    if (!isUuid(params.holdId)) throw new NotFoundError("Hold");
    const result = await releaseHold(tx, { holdId: params.holdId });
    return { status: 200, body: { holdId: result.holdId, status: "released", balance: result.balance } };
  },
);

import { getDb } from "@/db/client";
import { generateImage, generateImageInputSchema } from "@/features/generate-image";
import { defineRoute } from "@/server/define-route";
import { refusalResponse } from "@/server/http-errors";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * POST /api/features/generate-image `{prompt, requestId}`: the example metered feature (generateImage),
 * `{svg, cost, balance}`; 402 insufficient_credits with `{cost, available}` when credits fall short.
 */
export default defineRoute({
  method: "POST",
  path: "/api/features/generate-image",
  handler: withUser(async (request, user) => {
    const input = await readJsonBody(request, generateImageInputSchema);
    const result = await generateImage(await getDb(), user.id, input);
    if (!result.ok) return refusalResponse(result, "Not enough credits.");
    return Response.json({ svg: result.value.svg, cost: result.cost, balance: result.balance });
  }),
});

import { getDb } from "@/db/client";
import { generateImage, generateImageInputSchema } from "@/features/generate-image";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/** POST /api/features/generate-image: the example metered feature; 402 with its cost when credits fall short. */
export default defineRoute({
  method: "POST",
  path: "/api/features/generate-image",
  handler: withUser(async (request, user) => {
    const input = await readJsonBody(request, generateImageInputSchema);
    const result = await generateImage(await getDb(), user.id, input);
    if (!result.ok) {
      return Response.json(
        {
          error: {
            code: "insufficient_credits",
            message: "Not enough credits.",
            cost: result.cost,
            available: result.available,
          },
        },
        { status: 402 },
      );
    }
    return Response.json({ svg: result.value.svg, cost: result.cost, balance: result.balance });
  }),
});

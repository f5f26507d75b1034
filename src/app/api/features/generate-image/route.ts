import { getDb } from "@/db/client";
import { generateImage, generateImageInputSchema } from "@/features/generate-image";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

export const POST = withUser(async (request, user) => {
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
});

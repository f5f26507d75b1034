import { getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/** GET /api/credits/balance: the signed-in user's balance, held, available and debt (credits). */
export default defineRoute({
  method: "GET",
  path: "/api/credits/balance",
  handler: withUser(async (_request, user) => {
    const balance = await getBalance(await getDb(), user.id);
    return Response.json(balance, { headers: { "cache-control": "no-store" } });
  }),
});

import { listExpiringCredits } from "@/credits/list-expiring-credits";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/** GET /api/credits/expiring: the signed-in user's credits that expire in the next 30 days, soonest first. */
export default defineRoute({
  method: "GET",
  path: "/api/credits/expiring",
  handler: withUser(async (_request, user) => {
    return Response.json(await listExpiringCredits(await getDb(), user.id, 30));
  }),
});

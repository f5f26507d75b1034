import { removeSavedCard } from "@/auto-top-up/remove-card";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * DELETE /api/credits/auto-top-up/card: forgets the saved card, which turns auto top-up off
 * (removeSavedCard). 200 with the GET's body; repeating it changes nothing.
 */
export default defineRoute({
  method: "DELETE",
  path: "/api/credits/auto-top-up/card",
  handler: withUser(async (_request, user) => {
    return Response.json(await removeSavedCard(await getDb(), user.id));
  }),
});

import { getAutoTopUp } from "@/auto-top-up/get-auto-top-up";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/auto-top-up: the signed-in user's auto top-up (AutoTopUpView, src/auto-top-up/schemas.ts):
 * the setting (package, threshold in credits, monthly cap in minor units), the saved card's brand and last
 * four digits, this calendar month's (UTC) top-ups against the cap, the last five attempts, and `status`
 * for the page's banner (`ok`, `action_required` with what the page confirms the payment with,
 * `waiting_for_provider`, `failed`, `disabled` with the reason, `cap_reached`, `off`).
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/auto-top-up",
  handler: withUser(async (_request, user) => {
    return Response.json(await getAutoTopUp(await getDb(), user.id), {
      headers: { "cache-control": "no-store" },
    });
  }),
});

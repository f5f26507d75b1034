import { saveAutoTopUp } from "@/auto-top-up/save-auto-top-up";
import { autoTopUpBodySchema } from "@/auto-top-up/schemas";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * PUT /api/credits/auto-top-up `{enabled, packageId, thresholdCredits, monthlyCapAmount, locale?}`: saves
 * the signed-in user's auto top-up (saveAutoTopUp). 200 with the GET's body; 400 `invalid_input` (a
 * threshold that is not whole credits ≥ 1, a cap below the package's price), 400 `package_unavailable`,
 * 409 `card_required` (turning it on without a saved card). It sets a value, so repeating it changes
 * nothing: no Idempotency-Key. Turning it on while the balance is already below the threshold starts a
 * top-up at once.
 */
export default defineRoute({
  method: "PUT",
  path: "/api/credits/auto-top-up",
  handler: withUser(async (request, user) => {
    const body = await readJsonBody(request, autoTopUpBodySchema);
    return Response.json(await saveAutoTopUp(await getDb(), user.id, body));
  }),
});

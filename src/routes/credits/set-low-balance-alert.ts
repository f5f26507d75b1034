import { saveLowBalanceAlert } from "@/alerts/save-low-balance-alert";
import { lowBalanceAlertBodySchema } from "@/alerts/schemas";
import { getDb } from "@/db/client";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * PUT /api/credits/low-balance-alert `{threshold: {credits} | {percent} | null, locale?}`: sets or clears
 * the signed-in user's low-balance alert (saveLowBalanceAlert). 200 with the same body as the GET; 400 for
 * a threshold that is not a positive whole number of credits or a whole percentage from 1 to 100. It sets
 * a value, so repeating it changes nothing: no Idempotency-Key.
 */
export default defineRoute({
  method: "PUT",
  path: "/api/credits/low-balance-alert",
  handler: withUser(async (request, user) => {
    const body = await readJsonBody(request, lowBalanceAlertBodySchema);
    return Response.json(await saveLowBalanceAlert(await getDb(), user.id, body));
  }),
});

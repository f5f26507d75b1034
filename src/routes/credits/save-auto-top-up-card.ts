import { saveCardFromSetupIntent } from "@/auto-top-up/save-card";
import { saveCardBodySchema } from "@/auto-top-up/schemas";
import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/auto-top-up/card `{setupIntentId}`: records the card of a SetupIntent the browser
 * confirmed, read back from the provider (saveCardFromSetupIntent; the client never names a payment
 * method). 200 with the GET's body; 409 `setup_incomplete` (not succeeded, or not this user's); 502 when
 * the provider cannot be reached. Repeating it changes nothing.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/auto-top-up/card",
  handler: withUser(async (request, user) => {
    const { setupIntentId } = await readJsonBody(request, saveCardBodySchema);
    const db = await getDb();
    return Response.json(await saveCardFromSetupIntent(db, getPaymentProvider(db), user.id, setupIntentId));
  }),
});

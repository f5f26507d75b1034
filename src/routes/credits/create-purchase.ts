import { getDb } from "@/db/client";
import { purchaseRequestSchema } from "@/payment/purchase-request";
import { startPurchase } from "@/payment/start-purchase";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/purchases `{packageId}`: starts a purchase for the signed-in user (startPurchase, the
 * same use case as the server action createCreditPaymentIntent); 201 with the PaymentIntent's client
 * secret and the publishable key. The price comes from the server's catalog, never from the request.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/purchases",
  handler: withUser(async (request, user) => {
    const purchaseRequest = await readJsonBody(request, purchaseRequestSchema);
    return Response.json(await startPurchase(await getDb(), user, purchaseRequest), { status: 201 });
  }),
});

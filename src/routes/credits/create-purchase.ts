import { getDb } from "@/db/client";
import { createCreditPurchase } from "@/payment/create-credit-purchase";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { purchaseRequestSchema } from "@/payment/purchase-request";
import { defineRoute } from "@/server/define-route";
import { limitPurchases } from "@/server/rate-limit";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/purchases `{packageId}`: starts a purchase for the signed-in user; 201 with the
 * PaymentIntent's client secret. The price comes from the server's catalog, never from the request.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/purchases",
  handler: withUser(async (request, user) => {
    const { packageId } = await readJsonBody(request, purchaseRequestSchema);
    await limitPurchases(user.id);
    const db = await getDb();
    const purchase = await createCreditPurchase(db, getPaymentProvider(db), { userId: user.id, packageId });
    return Response.json(purchase, { status: 201 });
  }),
});

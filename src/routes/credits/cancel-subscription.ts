import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { cancelSubscription } from "@/payment/subscriptions/cancel-subscription";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * DELETE /api/credits/subscription: cancels the signed-in user's subscription at the end of its period
 * (cancelSubscription); 200 with the subscription (`cancelAtPeriodEnd: true`), 404 when none renews.
 */
export default defineRoute({
  method: "DELETE",
  path: "/api/credits/subscription",
  handler: withUser(async (_request, user) => {
    const db = await getDb();
    return Response.json(await cancelSubscription(db, getPaymentProvider(db), user.id));
  }),
});

import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { startSubscription, subscriptionRequestSchema } from "@/payment/subscriptions/start-subscription";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/subscriptions `{planId}`: subscribes the signed-in user (startSubscription). 201 with
 * `{subscriptionId, paymentIntentId, clientSecret, provider: "sandbox"}` (pay the first invoice with POST
 * /api/sandbox/payment-intents/{id}/confirm) or `{subscriptionId, checkoutUrl, provider: "stripe"}`;
 * 400 plan_unavailable, 409 subscription_exists, 429 rate_limited. Credits arrive with the paid invoice.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/subscriptions",
  handler: withUser(async (request, user) => {
    const body = await readJsonBody(request, subscriptionRequestSchema);
    const db = await getDb();
    const answer = await startSubscription(db, getPaymentProvider(db), user, body);
    return Response.json(answer, { status: 201 });
  }),
});

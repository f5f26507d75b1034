import { startCardSetup } from "@/auto-top-up/start-card-setup";
import { getDb } from "@/db/client";
import { limitPurchases } from "@/limits/rate-limit";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/auto-top-up/setup-intent (no body): a SetupIntent to save a card for auto top-up
 * (startCardSetup); 201 `{setupIntentId, clientSecret, provider, publishableKey}`. Counted in the purchase
 * limit (RATE_LIMIT_PURCHASES_PER_MINUTE): each call asks Stripe. 502 when the provider cannot be reached.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/auto-top-up/setup-intent",
  handler: withUser(async (_request, user) => {
    await limitPurchases(user.id);
    const db = await getDb();
    return Response.json(await startCardSetup(db, getPaymentProvider(db), user), { status: 201 });
  }),
});

import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { openBillingPortal } from "@/payment/subscriptions/open-billing-portal";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * POST /api/credits/subscription/portal: a link to the payment provider's customer portal for the
 * signed-in user (openBillingPortal). 200 `{url}`; 404 not_found (no customer yet), 501
 * billing_portal_unavailable (the sandbox: use the credits page's own controls), 502
 * payment_provider_unavailable.
 */
export default defineRoute({
  method: "POST",
  path: "/api/credits/subscription/portal",
  handler: withUser(async (_request, user) => {
    const db = await getDb();
    return Response.json(await openBillingPortal(db, getPaymentProvider(db), user.id));
  }),
});

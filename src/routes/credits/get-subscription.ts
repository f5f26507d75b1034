import { getDb } from "@/db/client";
import { getSubscriptionSummary } from "@/payment/subscriptions/get-subscription-summary";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/subscription: the signed-in user's subscription, `{id, planId, status,
 * currentPeriodStart, currentPeriodEnd, cancelAtPeriodEnd, paymentProblem}`, or `null` when there is none.
 * `paymentProblem` is `{kind: "payment_failed" | "action_required", invoiceId, at, actionUrl}` while a
 * renewal (or the first payment) could not be charged, else null (see SubscriptionSummary).
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/subscription",
  handler: withUser(async (_request, user) => {
    return Response.json(await getSubscriptionSummary(await getDb(), user.id));
  }),
});

import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import {
  changeSubscriptionPlan,
  planChangeRequestSchema,
} from "@/payment/subscriptions/change-subscription-plan";
import { getPeriodUsage } from "@/payment/subscriptions/get-period-usage";
import { defineRoute } from "@/server/define-route";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

/**
 * PATCH /api/credits/subscription `{planId}`: moves the signed-in user's subscription to another plan
 * (changeSubscriptionPlan). 200 `{subscription, change}`: `subscription` as GET answers it (with
 * `scheduledPlanId` and `period`, this credit period's figures after the change), `change` one of `{kind: "changed_now", invoiceId}` (an upgrade, its prorated invoice
 * paid and its extra credits granted), `{kind: "scheduled", at}` (a downgrade, from the period's end, ISO
 * 8601) or `{kind: "unscheduled"}` (a scheduled change taken back).
 * Errors: 400 invalid_input / plan_unavailable, 402 card_declined (the upgrade's invoice was declined;
 * nothing changed) / authentication_required (the bank asks the cardholder to authenticate the upgrade's
 * payment; nothing changed), 404 not_found (no subscription), 409 plan_unchanged / subscription_not_changeable,
 * 429 rate_limited, 502 payment_provider_unavailable.
 */
export default defineRoute({
  method: "PATCH",
  path: "/api/credits/subscription",
  handler: withUser(async (request, user) => {
    const body = await readJsonBody(request, planChangeRequestSchema);
    const db = await getDb();
    const { subscription, change } = await changeSubscriptionPlan(db, getPaymentProvider(db), user.id, body);
    return Response.json({
      subscription: subscription && { ...subscription, period: await getPeriodUsage(db, subscription.id) },
      change,
    });
  }),
});

import { getDb } from "@/db/client";
import { getPeriodUsage } from "@/payment/subscriptions/get-period-usage";
import { getSubscriptionSummary } from "@/payment/subscriptions/get-subscription-summary";
import { hasHadTrial } from "@/payment/subscriptions/start-subscription";
import { defineRoute } from "@/server/define-route";
import { withUser } from "@/server/with-user";

/**
 * GET /api/credits/subscription: the signed-in user's subscription, `{id, planId, status,
 * currentPeriodStart, currentPeriodEnd, cancelAtPeriodEnd, paymentProblem}`, or `null` when there is none.
 * `paymentProblem` is `{kind: "payment_failed" | "action_required", invoiceId, at, actionUrl}` while a
 * renewal (or the first payment) could not be charged, else null (see SubscriptionSummary). `period` is this
 * credit period's figures `{periodStart, periodEnd, granted, used, left, takenBack, rollsOver, expiresAt}` (credits;
 * see PeriodUsage), or null when no period is running. `trialAvailable`: whether subscribing to a plan with
 * a trial would still offer it (a trial is once per user ever); a user with no subscription (null) never
 * had one, so it is available to them.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/subscription",
  handler: withUser(async (_request, user) => {
    const db = await getDb();
    const summary = await getSubscriptionSummary(db, user.id);
    if (!summary) return Response.json(null);
    return Response.json({
      ...summary,
      period: await getPeriodUsage(db, summary.id),
      trialAvailable: !(await hasHadTrial(db, user.id)),
    });
  }),
});

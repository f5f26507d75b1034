import { listPlansOnSale, PLANS, planName } from "@/catalog/plans";
import { defineRoute } from "@/server/define-route";

/** The free plan's currency: that of the paid plans, so a pricing table shows one currency. */
const FREE_CURRENCY = PLANS.find((plan) => plan.price)?.price?.currency ?? "usd";

/**
 * GET /api/credits/plans (public): the plans on sale, prices in minor units, decided by the server.
 * `creditsPerPeriod` is what each monthly grant gives, for yearly plans too (they grant monthly, not twelve
 * months at once); `price` is per `interval`, and the free plan's is 0. `trial` is `{days, credits}` for
 * a plan with a trial, else null; a trial is once per user ever, so a signed-in page asks
 * GET /api/credits/subscription's `trialAvailable` before showing it.
 */
export default defineRoute({
  method: "GET",
  path: "/api/credits/plans",
  handler: () => {
    const plans = listPlansOnSale().map((plan) => ({
      id: plan.id,
      name: planName(plan),
      interval: plan.interval,
      price: plan.price ?? { amount: 0, currency: FREE_CURRENCY },
      creditsPerPeriod: plan.creditsPerMonth,
      rollover: plan.rollover,
      trial: plan.trial ? { days: plan.trial.days, credits: plan.trial.credits } : null,
    }));
    return Response.json({ plans });
  },
});

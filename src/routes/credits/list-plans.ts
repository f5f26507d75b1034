import { listPlansOnSale, PLANS, planName } from "@/catalog/plans";
import { defineRoute } from "@/server/define-route";

/** The free plan's currency: that of the paid plans, so a pricing table shows one currency. */
const FREE_CURRENCY = PLANS.find((plan) => plan.price)?.price?.currency ?? "usd";

/**
 * GET /api/credits/plans (public): the plans on sale, prices in minor units, decided by the server.
 * `creditsPerPeriod` is what each monthly grant gives, for yearly plans too (they grant monthly, not twelve
 * months at once); `price` is per `interval`, and the free plan's is 0.
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
      ...(plan.trial ? { trial: plan.trial } : {}),
    }));
    return Response.json({ plans });
  },
});

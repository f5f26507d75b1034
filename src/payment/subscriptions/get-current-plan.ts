import { findPlan, PLANS, planName } from "@/catalog/plans";
import type { DatabaseOrTransaction } from "@/db/types";
import { getSubscriptionSummary } from "./get-subscription-summary";

/** The plan a user is on, as the service API's balance answer gives it. */
export type CurrentPlan = {
  id: string;
  name: string;
  /** The subscription's status (Stripe's); null on the Free plan. */
  status: string | null;
  /** Credits granted each monthly period. */
  creditsPerPeriod: number;
  /** The end of the current billing period (ISO 8601); null on the Free plan. */
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
};

/**
 * The plan a user is on: their subscription's (getSubscriptionSummary: the newest shown one), or Free when
 * they have none, its first payment has not gone through, or it has been canceled (its credits may still
 * run, but no more will come from it).
 */
export async function getCurrentPlan(db: DatabaseOrTransaction, userId: string): Promise<CurrentPlan> {
  const summary = await getSubscriptionSummary(db, userId);
  // A subscription whose first payment has not gone through (`incomplete`) is no plan yet, and a canceled
  // one is none any more: the user is on Free then (as the Free plan's credits treat them).
  const onPlan = summary && summary.status !== "canceled" && summary.status !== "incomplete";
  const plan = onPlan ? findPlan(summary.planId) : undefined;
  if (summary && plan)
    return {
      id: plan.id,
      name: planName(plan),
      status: summary.status,
      creditsPerPeriod: plan.creditsPerMonth,
      currentPeriodEnd: summary.currentPeriodEnd,
      cancelAtPeriodEnd: summary.cancelAtPeriodEnd,
    };
  const free = PLANS.find((candidate) => !candidate.price);
  return {
    id: free?.id ?? "free",
    name: free ? planName(free) : "Free",
    status: null,
    creditsPerPeriod: free?.creditsPerMonth ?? 0,
    currentPeriodEnd: null,
    cancelAtPeriodEnd: false,
  };
}

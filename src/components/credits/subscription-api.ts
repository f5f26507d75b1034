import type { Money } from "@/catalog/packages";
import type { PlanInterval, Rollover } from "@/catalog/plans";
import type { PeriodUsage } from "@/payment/subscriptions/get-period-usage";
import { requestJson } from "./credits-api";

/**
 * Browser-side calls to the subscription routes (same origin, session cookie). Prices are integer minor
 * units and credits are integers, exactly as the server sends them; the page only formats them.
 */

/** One plan of GET /api/credits/plans. `price` is per `interval`; `creditsPerPeriod` is per monthly grant. */
export type PlanOnSale = {
  id: string;
  /** The plan's English name; pages show the translated `plans.<id>.name` instead. */
  name: string;
  interval: PlanInterval;
  price: Money;
  creditsPerPeriod: number;
  rollover: Rollover;
  /** The plan's trial, once per user ever: its length in days and the credits it grants; null for none. */
  trial: { days: number; credits: number } | null;
};

/** `status` as our subscription row says it (Stripe's words): active, past_due, incomplete, canceled… */
export type SubscriptionStatus =
  | "incomplete"
  | "trialing"
  | "active"
  | "past_due"
  | "unpaid"
  | "paused"
  | "canceled"
  | (string & {});

/** GET /api/credits/subscription when the user has one; times in ISO 8601, null until the provider said. */
export type Subscription = {
  id: string;
  planId: string;
  status: SubscriptionStatus;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  /** The plan a change scheduled for the period's end (a downgrade) moves to then; null when none is. */
  scheduledPlanId?: string | null;
  /**
   * This credit period's figures (a monthly period, or a yearly plan's month), in credits; null when no
   * period is running. `rollsOver` is null when the plan's credits never expire.
   */
  period?: PeriodUsage | null;
  /** Whether a plan's trial would still be offered to this user (a trial is once per user ever). */
  trialAvailable?: boolean;
};

/** POST /api/credits/subscriptions: how the browser pays the first invoice. */
export type StartedSubscription =
  | { subscriptionId: string; checkoutUrl: string; provider: "stripe" }
  | {
      subscriptionId: string;
      paymentIntentId: string;
      clientSecret: string;
      provider: "sandbox";
      /** The trial it starts with: the payment is then the $0 that keeps the card. */
      trial: { days: number; credits: number } | null;
    };

/** POST /api/sandbox/subscriptions/{id}/advance: the subscription after its clock moved to the renewal. */
export type AdvancedSubscription = {
  subscription: Subscription | null;
  /** The renewal's invoice (`paid` when its credits were granted), or null when the subscription ended. */
  invoice: { id: string; status: string } | null;
  /** The subscription's test clock after the move (ISO 8601). */
  clock: string;
  /** A yearly plan's month reached within the paid year (its credits just issued), else null. */
  slot: { start: string; end: string } | null;
};

export async function fetchPlans(signal?: AbortSignal): Promise<PlanOnSale[]> {
  const answer = await requestJson<{ plans: PlanOnSale[] }>("/api/credits/plans", { signal });
  return answer.plans;
}

/** The user's subscription, or null when they never subscribed (they are on the free plan). */
export function fetchSubscription(signal?: AbortSignal): Promise<Subscription | null> {
  return requestJson("/api/credits/subscription", { signal });
}

/** Starts a subscription to a paid plan; ApiError plan_unavailable (400), subscription_exists (409)… */
export function startSubscription(planId: string): Promise<StartedSubscription> {
  return requestJson("/api/credits/subscriptions", { json: { planId } });
}

/** Cancels at the end of the current period: the plan and its credits stay until then. */
export function cancelSubscription(): Promise<Subscription> {
  return requestJson("/api/credits/subscription", { method: "DELETE" });
}

/** PATCH /api/credits/subscription: the subscription after the change, and what the change did. */
export type PlanChange = {
  subscription: Subscription | null;
  change:
    | { kind: "changed_now"; invoiceId: string }
    | { kind: "scheduled"; at: string }
    | { kind: "unscheduled" };
};

/**
 * Moves the subscription to another plan: an upgrade is charged (prorated) and applied now, a downgrade
 * from the renewal; the current plan takes back a scheduled change. ApiError card_declined or
 * authentication_required (402: nothing changed), plan_unchanged (409), subscription_not_changeable (409)…
 */
export function changeSubscriptionPlan(planId: string): Promise<PlanChange> {
  return requestJson("/api/credits/subscription", { method: "PATCH", json: { planId } });
}

/** Test mode only: moves the subscription's clock to its next renewal and answers after it was applied. */
export function advanceSubscription(subscriptionId: string): Promise<AdvancedSubscription> {
  return requestJson(`/api/sandbox/subscriptions/${encodeURIComponent(subscriptionId)}/advance`, {
    method: "POST",
  });
}

/** POST /api/credits/subscription/portal: a one-time link to Stripe's customer portal (Stripe only). */
export function openBillingPortal(): Promise<{ url: string }> {
  return requestJson("/api/credits/subscription/portal", { method: "POST" });
}

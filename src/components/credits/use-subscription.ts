"use client";

import { useQuery } from "@tanstack/react-query";
import { useEffect, useEffectEvent, useRef } from "react";
import { creditsKeys } from "./credits-api";
import { fetchPlans, fetchSubscription, type PlanOnSale, type Subscription } from "./subscription-api";
import { useWaitDeadline } from "./use-wait-deadline";

/** Statuses in which a subscription's plan is in force and its credits arrive. */
export const PLAN_IN_FORCE = new Set(["active", "trialing", "past_due"]);

/** Statuses whose subscription still blocks starting another one (the server's live statuses). */
export const LIVE_STATUSES = new Set(["incomplete", "trialing", "active", "past_due", "unpaid", "paused"]);

/** The plans on sale (GET /api/credits/plans): the same for everyone, so cached for the tab's life. */
export function usePlans() {
  return useQuery<PlanOnSale[]>({
    queryKey: creditsKeys.plans,
    queryFn: ({ signal }) => fetchPlans(signal),
    staleTime: Number.POSITIVE_INFINITY,
  });
}

/**
 * The user's subscription under ["credits","subscription"]: refreshed with the balance after a payment,
 * a renewal or a cancel. `initialData` is the server's answer for the first render (null: none).
 */
export function useSubscription(initialData?: Subscription | null) {
  return useQuery<Subscription | null>({
    queryKey: creditsKeys.subscription,
    queryFn: ({ signal }) => fetchSubscription(signal),
    ...(initialData === undefined ? {} : { initialData }),
  });
}

/** One wait for a subscription's first invoice to take effect; a new `startedAt` starts a new wait. */
export type SubscriptionWait = { subscriptionId: string; startedAt: number };

function activated(subscription: Subscription | null | undefined, wait: SubscriptionWait | null): boolean {
  return subscription?.id === wait?.subscriptionId && PLAN_IN_FORCE.has(subscription?.status ?? "");
}

/**
 * Waits for a paid first invoice to make the subscription active (invoice.paid grants the credits and
 * moves the status in one webhook transaction): GET /api/credits/subscription every `intervalMs` until
 * the subscription of `wait` is in force, or `timeoutMs` after `wait.startedAt`; then calls `onSettled`
 * once for that wait, either way, so the page reads the balance and the history again. The sandbox
 * usually delivers that event before its confirm answers; this covers a delivery the jobs retry.
 */
export function useSubscriptionActivation(
  wait: SubscriptionWait | null,
  onSettled: () => void,
  { intervalMs = 1500, timeoutMs = 60_000 }: { intervalMs?: number; timeoutMs?: number } = {},
): void {
  const timedOut = useWaitDeadline(wait, timeoutMs);

  const query = useQuery({
    // Outside ["credits"], like a purchase's wait: refreshing the page's data must not restart it.
    queryKey: ["subscription-wait", wait?.subscriptionId ?? null, wait?.startedAt ?? null],
    queryFn: ({ signal }) => fetchSubscription(signal),
    enabled: (current) => wait !== null && !timedOut && !activated(current.state.data, wait),
    refetchInterval: (current) => (activated(current.state.data, wait) ? false : intervalMs),
    refetchIntervalInBackground: true,
    refetchOnWindowFocus: false,
    retry: false,
    gcTime: 0,
  });

  const report = useEffectEvent(onSettled);
  const reported = useRef<SubscriptionWait | null>(null);
  const done = activated(query.data, wait) || timedOut;
  useEffect(() => {
    if (!wait || !done || reported.current === wait) return;
    reported.current = wait;
    report();
  }, [wait, done]);
}

"use client";

import { useQuery } from "@tanstack/react-query";
import { useEffect, useEffectEvent, useRef } from "react";
import { creditsKeys, fetchPurchase, type Purchase } from "./credits-api";
import { useWaitDeadline } from "./use-wait-deadline";

export type PurchaseOutcome =
  | { kind: "succeeded"; purchase: Purchase }
  | { kind: "failed"; purchase: Purchase }
  | { kind: "timeout" };

/** One wait for a purchase to settle; a new object (a new `startedAt`) starts a new wait. */
export type PurchaseWait = { purchaseId: string; startedAt: number };

const FINAL_FAILURES = new Set(["failed", "canceled"]);

function settledOutcome(purchase: Purchase | undefined): PurchaseOutcome | null {
  if (purchase?.status === "succeeded") return { kind: "succeeded", purchase };
  if (purchase && FINAL_FAILURES.has(purchase.status)) return { kind: "failed", purchase };
  return null;
}

/**
 * Waits for the webhook to settle a purchase: GET /api/credits/purchases/{id} every `intervalMs` (React
 * Query's refetchInterval) until the purchase has succeeded, failed or was canceled, or `timeoutMs` after
 * `wait.startedAt`; then calls `onOutcome` once for that wait. Credits are granted by the webhook, not by
 * the browser, so "Stripe said succeeded" only means "wait for the ledger".
 *
 * A failed request is not an outcome: the next interval asks again (as before, transient errors are
 * retried until the deadline). Polling goes on while the tab is in the background, since the deadline runs
 * on the clock. `wait: null` waits for nothing; unmounting stops the wait and cancels its request.
 */
export function usePurchaseOutcome(
  wait: PurchaseWait | null,
  onOutcome: (outcome: PurchaseOutcome) => void,
  { intervalMs = 1500, timeoutMs = 60_000 }: { intervalMs?: number; timeoutMs?: number } = {},
): void {
  const timedOut = useWaitDeadline(wait, timeoutMs);

  const query = useQuery({
    queryKey: creditsKeys.purchaseWait(wait?.purchaseId ?? null, wait?.startedAt ?? null),
    queryFn: ({ signal }) => fetchPurchase(wait?.purchaseId ?? "", signal),
    // Nothing is asked once the purchase is settled or the wait is over.
    enabled: (current) => wait !== null && !timedOut && settledOutcome(current.state.data) === null,
    refetchInterval: (current) => (settledOutcome(current.state.data) ? false : intervalMs),
    refetchIntervalInBackground: true,
    refetchOnWindowFocus: false,
    // The interval is the retry.
    retry: false,
    gcTime: 0,
  });

  const purchase = query.data;
  const report = useEffectEvent(onOutcome);
  const reported = useRef<PurchaseWait | null>(null);
  useEffect(() => {
    if (!wait || reported.current === wait) return;
    const outcome = settledOutcome(purchase) ?? (timedOut ? ({ kind: "timeout" } as const) : null);
    if (!outcome) return;
    reported.current = wait;
    report(outcome);
  }, [wait, purchase, timedOut]);
}

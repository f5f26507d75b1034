"use client";

import { useEffect, useState } from "react";

/**
 * Whether `wait` has passed its deadline, `timeoutMs` after its `startedAt` (milliseconds since the epoch).
 * Waits are compared by identity, so a new wait object starts with its own deadline; `null` never times
 * out. Shared by the pages' waits for a webhook's effect (a purchase settling, a subscription starting).
 */
export function useWaitDeadline(wait: { startedAt: number } | null, timeoutMs: number): boolean {
  const [expired, setExpired] = useState<object | null>(null);
  useEffect(() => {
    if (!wait) return;
    const timer = setTimeout(() => setExpired(wait), Math.max(0, wait.startedAt + timeoutMs - Date.now()));
    return () => clearTimeout(timer);
  }, [wait, timeoutMs]);
  return wait !== null && expired === wait;
}

import { fetchPurchase, type Purchase } from "./credits-api";

export type PurchaseOutcome =
  | { kind: "succeeded"; purchase: Purchase }
  | { kind: "failed"; purchase: Purchase }
  | { kind: "timeout" };

const FINAL_FAILURES = new Set(["failed", "canceled"]);

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * Polls the purchase until the webhook has settled it. Credits are granted by the webhook, not by the
 * browser, so "Stripe said succeeded" only means "wait for the ledger". Transient fetch errors are retried.
 */
export async function waitForPurchase(
  purchaseId: string,
  {
    signal,
    intervalMs = 1500,
    timeoutMs = 60_000,
  }: { signal: AbortSignal; intervalMs?: number; timeoutMs?: number },
): Promise<PurchaseOutcome> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const purchase = await fetchPurchase(purchaseId, signal);
      if (purchase.status === "succeeded") return { kind: "succeeded", purchase };
      if (FINAL_FAILURES.has(purchase.status)) return { kind: "failed", purchase };
    } catch (error) {
      if (signal.aborted) throw error;
    }
    await sleep(intervalMs, signal);
  }
  return { kind: "timeout" };
}

/**
 * Runs the changes of one subscription made in this process (the sandbox's clock advances, plan changes)
 * one after another, keyed by our subscription id. Each such change is several transactions (the
 * provider's state, then the delivery of its events, then what those grant): two of them interleaved can
 * move the sandbox's clock past credits the other has not granted yet, leaving them spendable after their
 * time (seen with four advance clicks at once, and an upgrade racing an advance). Rows locks keep money
 * exact within each transaction; this keeps the sequence a user would see. The sandbox runs in one
 * process by design; with Stripe the provider orders its own changes.
 */
const running = new Map<string, Promise<unknown>>();

export function oneChangeAtATime<T>(subscriptionId: string, run: () => Promise<T>): Promise<T> {
  const previous = running.get(subscriptionId) ?? Promise.resolve();
  const next = previous.then(run, run);
  const settled = next.catch(() => undefined);
  running.set(subscriptionId, settled);
  void settled.then(() => {
    if (running.get(subscriptionId) === settled) running.delete(subscriptionId);
  });
  return next;
}

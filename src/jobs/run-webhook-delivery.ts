import type { Database } from "@/db/types";
import { runWebhookDelivery } from "@/outbound/deliver-webhooks";

/** How often a running delivery job looks for due deliveries. */
const POLL_MS = 2_000;

/**
 * The outbound-event delivery job on pg-boss: its cron fires once a minute, and this keeps delivering for
 * `forMs` (just under the minute), looking every 2 seconds, so events go out within seconds, not at the
 * next minute. Several instances may run it at once (the claim skips what another holds). `isStopping`
 * ends it early when the app stops.
 */
export async function runWebhookDeliveryFor(
  db: Database,
  forMs: number,
  isStopping: () => boolean,
): Promise<void> {
  const until = Date.now() + forMs;
  while (!isStopping() && Date.now() < until) {
    await runWebhookDelivery(db, { shouldStop: isStopping });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

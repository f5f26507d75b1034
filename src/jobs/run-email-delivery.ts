import type { Database } from "@/db/types";
import { runEmailDelivery } from "@/email/deliver-email-outbox";

/** How often a running email job looks for due rows of the email outbox. */
const POLL_MS = 2_000;

/**
 * The email-outbox job on pg-boss: its cron fires once a minute, and this keeps draining for `forMs` (just
 * under the minute), looking every 2 seconds, so an alert leaves within seconds of its spend. Several
 * instances may run it at once (rows are leased with SKIP LOCKED). `isStopping` ends it early.
 */
export async function runEmailDeliveryFor(
  db: Database,
  forMs: number,
  isStopping: () => boolean,
): Promise<void> {
  const until = Date.now() + forMs;
  while (!isStopping() && Date.now() < until) {
    await runEmailDelivery(db, { shouldStop: isStopping });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** How often a running drain looks for due rows. */
const POLL_MS = 2_000;

/**
 * Keeps draining an outbox for `forMs`, looking every 2 seconds: its pg-boss cron fires once a minute and
 * this runs just under the minute, so a row leaves within seconds of its commit, not at the next minute.
 * Several instances may drain at once (rows are leased with SKIP LOCKED). `isStopping` ends it early when
 * the app stops; `drainOnce` gets it too, to stop between rows.
 */
export async function drainFor(
  forMs: number,
  isStopping: () => boolean,
  drainOnce: (options: { shouldStop: () => boolean }) => Promise<unknown>,
): Promise<void> {
  const until = Date.now() + forMs;
  while (!isStopping() && Date.now() < until) {
    await drainOnce({ shouldStop: isStopping });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

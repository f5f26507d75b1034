import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { sandboxEventOutbox } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { webhookVerifier } from "../stripe/stripe-client";
import { receiveWebhook } from "../webhooks/receive-webhook";
import { describeFailure } from "../webhooks/record-webhook-failure";

export type OutboxRow = typeof sandboxEventOutbox.$inferSelect;

/** First retry after 10 s, then twice as long each time, at most an hour apart; never given up. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(10 * 2 ** Math.max(attempts - 1, 0), 3600);
}

/**
 * A worker that claims an event keeps it this long: another worker may take it over only if the first
 * died (a delivery is bounded by the database's lock and statement timeouts, well under this).
 */
const CLAIM_SECONDS = 120;

export type DeliveryResult = { eventId: string; delivered: boolean; outcome?: string; error?: string };

/**
 * Delivers one outbox event the way Stripe delivers a webhook: signed with the webhook secret and run
 * through the same verification and handler code as POST /api/webhooks/stripe. Applying it twice is
 * harmless (the event id is recorded with its effects), so a delivery racing another one is safe. A
 * failure is kept on the row with the time of the next attempt; it never propagates to the caller.
 */
export async function deliverOutboxEvent(
  db: Database,
  webhookSecret: string,
  row: Pick<OutboxRow, "id" | "type" | "payload" | "paymentIntentId">,
): Promise<DeliveryResult> {
  const signature = webhookVerifier.webhooks.generateTestHeaderString({
    payload: row.payload,
    secret: webhookSecret,
  });
  const log = logger.child({ eventId: row.id, eventType: row.type, paymentIntentId: row.paymentIntentId });
  try {
    const { outcome } = await receiveWebhook(db, { rawBody: row.payload, signature, secret: webhookSecret });
    await db
      .update(sandboxEventOutbox)
      .set({ deliveredAt: sql`now()`, attempts: sql`${sandboxEventOutbox.attempts} + 1`, lastError: null })
      .where(eq(sandboxEventOutbox.id, row.id));
    return { eventId: row.id, delivered: true, outcome };
  } catch (error) {
    const reason = describeFailure(error).reason;
    try {
      const [updated] = await db
        .update(sandboxEventOutbox)
        .set({
          attempts: sql`${sandboxEventOutbox.attempts} + 1`,
          lastError: reason,
          // The same schedule as retryDelaySeconds, from the attempts before this one.
          nextAttemptAt: sql`now() + make_interval(secs => least(10 * power(2, least(${sandboxEventOutbox.attempts}, 12)), 3600))`,
        })
        .where(and(eq(sandboxEventOutbox.id, row.id), isNull(sandboxEventOutbox.deliveredAt)))
        .returning({
          attempts: sandboxEventOutbox.attempts,
          nextAttemptAt: sandboxEventOutbox.nextAttemptAt,
        });
      log.warn(
        { reason, attempts: updated?.attempts, nextAttemptAt: updated?.nextAttemptAt },
        "sandbox: event delivery failed; it will be retried",
      );
    } catch (recordError) {
      // The outbox row still says "not delivered": the worker retries it once its claim runs out.
      log.error({ reason, err: recordError }, "sandbox: event delivery failed and could not be rescheduled");
    }
    return { eventId: row.id, delivered: false, error: reason };
  }
}

/**
 * Delivers, in order, every event of one PaymentIntent that is still waiting: a retried confirm of a
 * succeeded payment calls this, so the customer's retry delivers what an earlier attempt could not.
 */
export async function deliverPendingEventsOf(
  db: Database,
  webhookSecret: string,
  paymentIntentId: string,
): Promise<DeliveryResult[]> {
  const pending = await db
    .select()
    .from(sandboxEventOutbox)
    .where(
      and(eq(sandboxEventOutbox.paymentIntentId, paymentIntentId), isNull(sandboxEventOutbox.deliveredAt)),
    )
    .orderBy(asc(sandboxEventOutbox.createdAt), asc(sandboxEventOutbox.id));
  const results: DeliveryResult[] = [];
  for (const row of pending) results.push(await deliverOutboxEvent(db, webhookSecret, row));
  return results;
}

/**
 * Delivers, in the order they were written, every event of one sandbox subscription that is still
 * waiting: its own events and those of its invoices' PaymentIntents. Subscribing and paying an invoice
 * call this after their commit, so the subscription's credits are there when the answer is.
 */
export async function deliverPendingEventsOfSubscription(
  db: Database,
  webhookSecret: string,
  subscriptionId: string,
): Promise<DeliveryResult[]> {
  const pending = await db
    .select()
    .from(sandboxEventOutbox)
    .where(and(eq(sandboxEventOutbox.subscriptionId, subscriptionId), isNull(sandboxEventOutbox.deliveredAt)))
    .orderBy(asc(sandboxEventOutbox.createdAt), asc(sandboxEventOutbox.id));
  const results: DeliveryResult[] = [];
  for (const row of pending) results.push(await deliverOutboxEvent(db, webhookSecret, row));
  return results;
}

/**
 * One pass of the delivery worker: claims the events whose next attempt is due (SKIP LOCKED, so workers
 * on several instances never take the same one) and delivers them oldest first. `now` lets a test look
 * at a later moment; the database's clock decides otherwise.
 */
export async function deliverDueSandboxEvents(
  db: Database,
  webhookSecret: string,
  options: { limit?: number; now?: Date } = {},
): Promise<{ delivered: number; failed: number }> {
  const limit = options.limit ?? 100;
  const now = options.now ? sql`${options.now.toISOString()}::timestamptz` : sql`now()`;
  const claimed = (await db.execute(sql`
    UPDATE sandbox_event_outbox SET next_attempt_at = now() + make_interval(secs => ${CLAIM_SECONDS})
    WHERE id IN (
      SELECT id FROM sandbox_event_outbox
      WHERE delivered_at IS NULL AND next_attempt_at <= ${now}
      ORDER BY next_attempt_at, created_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING id, type, payload, payment_intent_id AS "paymentIntentId", created_at AS "createdAt"`)) as unknown as {
    rows: { id: string; type: string; payload: string; paymentIntentId: string; createdAt: string }[];
  };
  // Oldest first, so a PaymentIntent's events arrive in the order they happened.
  const rows = [...claimed.rows].sort(
    (a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime() || a.id.localeCompare(b.id),
  );
  let delivered = 0;
  let failed = 0;
  for (const row of rows) {
    const result = await deliverOutboxEvent(db, webhookSecret, row);
    if (result.delivered) delivered++;
    else failed++;
  }
  if (delivered > 0 || failed > 0) {
    logger.info({ delivered, failed }, "sandbox: delivery worker pass");
  }
  return { delivered, failed };
}

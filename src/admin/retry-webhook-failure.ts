import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { NotFoundError } from "@/credits/errors";
import { webhookFailure } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { processVerifiedEvent } from "@/payment/webhooks/process-webhook-event";
import { describeFailure } from "@/payment/webhooks/record-webhook-failure";

export type RetryWebhookResult =
  | { resolved: true; outcome: string }
  | { resolved: false; errorCode: string; reason: string };

/**
 * An admin processes a stored failed webhook again, once its cause is fixed. The stored payload was
 * verified when it arrived, so it goes through the same exactly-once path as a delivery from Stripe
 * (processVerifiedEvent): an event that a redelivery has applied meanwhile answers "duplicate" and
 * changes nothing. Success resolves the failure and writes the audit entry in the same transaction as
 * the event's effects; a repeated failure updates the stored reason and is audited too.
 */
export async function retryWebhookFailure(
  db: Database,
  eventId: string,
  actor: Actor,
): Promise<RetryWebhookResult> {
  const [failure] = await db.select().from(webhookFailure).where(eq(webhookFailure.eventId, eventId));
  if (!failure) throw new NotFoundError("Failed webhook", { eventId });
  if (failure.resolvedAt) return { resolved: true, outcome: failure.resolution ?? "resolved" };
  const event = JSON.parse(failure.payload) as Stripe.Event;
  const details = { eventId, eventType: failure.eventType };
  try {
    const outcome = await processVerifiedEvent(db, event, failure.payload, {
      resolvedBy: actor.label,
      inTransaction: (tx, result) =>
        recordAudit(tx, actor, "webhook.retry", null, { ...details, outcome: result }),
    });
    logger.warn({ ...details, outcome, actor: actor.label }, "failed webhook retried by an admin");
    return { resolved: true, outcome };
  } catch (error) {
    const { code, reason } = describeFailure(error);
    await recordAudit(db, actor, "webhook.retry", null, { ...details, error: code });
    return { resolved: false, errorCode: code, reason };
  }
}

import { eq, sql } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { webhookDelivery } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Queues a delivery again (admin console's Resend, `POST /api/v1/webhook-deliveries/{id}/resend`): pending,
 * due now, with three new days of retries. The same event, so the same `webhook-id`: a receiver that
 * already has it sees a duplicate and can drop it. It takes its place in its account's order again (by
 * the event's sequence): later pending events of that account wait for it. Throws NotFoundError for an
 * unknown id.
 */
export async function resendWebhookDelivery(
  db: DatabaseOrTransaction,
  deliveryId: string,
): Promise<{ deliveryId: string; eventId: string }> {
  const [row] = await db
    .update(webhookDelivery)
    .set({
      status: "pending",
      nextAttemptAt: sql`now()`,
      giveUpAt: sql`now() + interval '3 days'`,
      leasedUntil: null,
      deliveredAt: null,
    })
    .where(eq(webhookDelivery.id, deliveryId))
    .returning({ deliveryId: webhookDelivery.id, eventId: webhookDelivery.eventId });
  if (!row) throw new NotFoundError("Webhook delivery", { deliveryId });
  return row;
}

import { and, desc, eq, inArray } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { outboundEvent, webhookDelivery, webhookDeliveryAttempt, webhookEndpoint } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type WebhookAttemptView = {
  attemptedAt: Date;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  durationMs: number;
};

export type WebhookDeliveryView = {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  userId: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  /** Newest first, at most `attemptsPerDelivery`. */
  recentAttempts: WebhookAttemptView[];
};

/**
 * The newest deliveries (of one endpoint, or all), newest first, with their latest attempts: what the
 * admin console shows and the service API lists. `limit` at most 200. Throws NotFoundError for an
 * `endpointId` that names no endpoint (unknown or deleted): an empty list would say "nothing sent yet".
 */
export async function listWebhookDeliveries(
  db: DatabaseOrTransaction,
  options: { endpointId?: string; limit?: number; attemptsPerDelivery?: number } = {},
): Promise<WebhookDeliveryView[]> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
  const rows = await db
    .select({
      id: webhookDelivery.id,
      endpointId: webhookDelivery.endpointId,
      eventId: webhookDelivery.eventId,
      eventType: outboundEvent.type,
      userId: webhookDelivery.userId,
      status: webhookDelivery.status,
      attempts: webhookDelivery.attempts,
      nextAttemptAt: webhookDelivery.nextAttemptAt,
      lastStatusCode: webhookDelivery.lastStatusCode,
      lastError: webhookDelivery.lastError,
      deliveredAt: webhookDelivery.deliveredAt,
      createdAt: webhookDelivery.createdAt,
    })
    .from(webhookDelivery)
    .innerJoin(outboundEvent, eq(outboundEvent.id, webhookDelivery.eventId))
    .where(and(options.endpointId ? eq(webhookDelivery.endpointId, options.endpointId) : undefined))
    .orderBy(desc(webhookDelivery.createdAt), desc(outboundEvent.seq))
    .limit(limit);
  if (rows.length === 0) {
    if (options.endpointId) {
      const [endpoint] = await db
        .select({ id: webhookEndpoint.id })
        .from(webhookEndpoint)
        .where(eq(webhookEndpoint.id, options.endpointId));
      if (!endpoint) throw new NotFoundError("Webhook endpoint");
    }
    return [];
  }
  const attempts = await db
    .select()
    .from(webhookDeliveryAttempt)
    .where(
      inArray(
        webhookDeliveryAttempt.deliveryId,
        rows.map((row) => row.id),
      ),
    )
    .orderBy(desc(webhookDeliveryAttempt.id));
  const keep = options.attemptsPerDelivery ?? 5;
  const byDelivery = new Map<string, WebhookAttemptView[]>();
  for (const attempt of attempts) {
    const list = byDelivery.get(attempt.deliveryId) ?? [];
    if (list.length < keep)
      list.push({
        attemptedAt: attempt.attemptedAt,
        statusCode: attempt.statusCode,
        error: attempt.error,
        responseBody: attempt.responseBody,
        durationMs: attempt.durationMs,
      });
    byDelivery.set(attempt.deliveryId, list);
  }
  return rows.map((row) => ({ ...row, recentAttempts: byDelivery.get(row.id) ?? [] }));
}

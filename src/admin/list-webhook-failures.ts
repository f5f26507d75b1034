import { desc, isNull } from "drizzle-orm";
import { webhookFailure } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type WebhookFailureRow = {
  eventId: string;
  eventType: string;
  errorCode: string;
  reason: string;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolution: string | null;
};

/**
 * Verified webhook events whose processing failed, most recent failure first: only the unresolved ones
 * unless `includeResolved`. The payload stays in the database (it is what a retry processes).
 */
export async function listWebhookFailures(
  db: DatabaseOrTransaction,
  input: { includeResolved?: boolean; limit?: number } = {},
): Promise<WebhookFailureRow[]> {
  const rows = await db
    .select()
    .from(webhookFailure)
    .where(input.includeResolved ? undefined : isNull(webhookFailure.resolvedAt))
    .orderBy(desc(webhookFailure.lastFailedAt))
    .limit(Math.min(input.limit ?? 100, 500));
  return rows.map((row) => ({
    eventId: row.eventId,
    eventType: row.eventType,
    errorCode: row.errorCode,
    reason: row.reason,
    attempts: row.attempts,
    firstFailedAt: row.firstFailedAt.toISOString(),
    lastFailedAt: row.lastFailedAt.toISOString(),
    resolvedAt: row.resolvedAt?.toISOString() ?? null,
    resolvedBy: row.resolvedBy,
    resolution: row.resolution,
  }));
}

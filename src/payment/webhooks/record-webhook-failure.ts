import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { classifyFailure } from "@/credits/failures";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";

const MAX_REASON_LENGTH = 2000;

/**
 * What went wrong, for an operator: the error code the webhook answered with, and the causes' messages
 * with their SQLSTATE where the database gave one (drizzle wraps the driver's error in "Failed query").
 */
export function describeFailure(error: unknown): { code: string; reason: string } {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === "object" && !seen.has(current) && parts.length < 5) {
    seen.add(current);
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof message === "string" && message && !message.startsWith("Failed query")) {
      parts.push(
        typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? `${message} (SQLSTATE ${code})` : message,
      );
    }
    current = (current as { cause?: unknown }).cause;
  }
  if (parts.length === 0) parts.push(error instanceof Error ? error.message : String(error));
  return { code: classifyFailure(error).code, reason: parts.join(" <- ").slice(0, MAX_REASON_LENGTH) };
}

/**
 * Stores a verified event whose processing failed, with the reason and the payload, so it is visible
 * (Admin → Failed webhooks, `verify`) and can be processed again. Runs in a transaction of its own: the
 * processing transaction has rolled back. A repeated failure of the same event updates its row. An
 * event that has meanwhile been processed (a concurrent delivery won) is not stored.
 */
export async function recordWebhookFailure(
  db: DatabaseOrTransaction,
  event: Pick<Stripe.Event, "id" | "type">,
  rawBody: string,
  error: unknown,
): Promise<void> {
  const { code, reason } = describeFailure(error);
  await db.execute(sql`
    INSERT INTO webhook_failure (event_id, event_type, payload, error_code, reason)
    SELECT ${event.id}, ${event.type}, ${rawBody}, ${code}, ${reason}
    WHERE NOT EXISTS (SELECT 1 FROM webhook_event WHERE id = ${event.id})
    ON CONFLICT (event_id) DO UPDATE SET
      error_code = excluded.error_code, reason = excluded.reason,
      attempts = webhook_failure.attempts + 1, last_failed_at = now(),
      resolved_at = NULL, resolved_by = NULL, resolution = NULL`);
}

/**
 * Marks a stored failure resolved once its event was processed, with the event's outcome (`null`: the
 * outcome recorded for the event). processWebhookEvent resolves a failure in the same statement that
 * records the outcome; this one serves an admin's retry of an event that was processed meanwhile.
 */
export async function resolveWebhookFailure(
  tx: DatabaseOrTransaction,
  eventId: string,
  resolution: { by: string; outcome: string | null },
): Promise<boolean> {
  const resolved = (await tx.execute(sql`
    UPDATE webhook_failure SET resolved_at = now(), resolved_by = ${resolution.by},
      resolution = coalesce(${resolution.outcome}, (SELECT outcome FROM webhook_event WHERE id = ${eventId}))
    WHERE event_id = ${eventId} AND resolved_at IS NULL
    RETURNING event_id`)) as unknown as { rows: unknown[] };
  if (resolved.rows.length > 0) {
    logger.info({ eventId, resolvedBy: resolution.by }, "failed webhook resolved");
  }
  return resolved.rows.length > 0;
}

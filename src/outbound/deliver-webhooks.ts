import { type SQL, sql } from "drizzle-orm";
import { sqlRows } from "@/credits/sql-rows";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { DEFAULT_SEND_TIMEOUT_MS, type SendResult, sendWebhook } from "./send-webhook";

/**
 * Seconds to wait after the `attempts`-th failed attempt: 30 s, then twice as long each time, at most
 * 6 hours apart. With the three-day limit that is about twenty attempts; the last one is made when the
 * three days are up (the wait is cut to that moment), then the delivery is `failed`.
 */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(30 * 2 ** Math.max(attempts - 1, 0), 6 * 3600);
}

/** How long a worker keeps a delivery it took beyond its send timeout; after that another may take it. */
const LEASE_MARGIN_SECONDS = 30;

type ClaimedDelivery = {
  id: string;
  attempts: number;
  url: string;
  secret: string;
  eventId: string;
  payload: unknown;
  userId: string;
};

export type DeliveryPassOptions = {
  /** The moment the pass acts at (tests jump over backoff with it); the database's clock otherwise. */
  now?: Date;
  /** Most deliveries taken in one pass. */
  limit?: number;
  /** Per attempt: a receiver slower than this has failed it. */
  timeoutMs?: number;
  /** Deliveries sent at once (each to a different endpoint and account). */
  concurrency?: number;
};

export type DeliveryPassResult = { delivered: number; retrying: number; failed: number };

function atTime(now: Date | undefined): SQL {
  return now ? sql`${now.toISOString()}::timestamptz` : sql`now()`;
}

/**
 * Takes the deliveries that may be sent now and leases them to this worker, in one statement:
 * - only the head of each (endpoint, account) queue: the pending delivery of the oldest event (lowest
 *   `seq`). A later event of an account waits until the earlier one is delivered or given up: events
 *   arrive in the order the ledger wrote them;
 * - whose next attempt is due and whose lease (if any) has run out: a worker that died mid-delivery gives
 *   its deliveries up when the lease ends, and they are sent again (at least once, same webhook-id);
 * - FOR UPDATE SKIP LOCKED: workers on several instances claim disjoint sets and never wait on each other.
 */
async function claimDueDeliveries(db: Database, options: DeliveryPassOptions): Promise<ClaimedDelivery[]> {
  const now = atTime(options.now);
  const leaseSeconds =
    Math.ceil((options.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS) / 1000) + LEASE_MARGIN_SECONDS;
  const result = await db.execute(sql`
    WITH heads AS (
      SELECT DISTINCT ON (d.endpoint_id, d.user_id) d.id, d.next_attempt_at, d.leased_until
      FROM webhook_delivery d
      WHERE d.status = 'pending'
      ORDER BY d.endpoint_id, d.user_id, d.event_seq
    ), due AS (
      SELECT d.id FROM webhook_delivery d JOIN heads h ON h.id = d.id
      WHERE h.next_attempt_at <= ${now} AND (h.leased_until IS NULL OR h.leased_until <= ${now})
        AND d.status = 'pending'
      ORDER BY h.next_attempt_at
      LIMIT ${options.limit ?? 50}
      FOR UPDATE OF d SKIP LOCKED
    ), leased AS (
      UPDATE webhook_delivery d SET leased_until = ${now} + make_interval(secs => ${leaseSeconds})
      FROM due WHERE d.id = due.id
      RETURNING d.id, d.attempts, d.endpoint_id, d.event_id, d.user_id
    )
    SELECT l.id, l.attempts, e.url, e.secret, l.event_id AS "eventId", l.user_id AS "userId", ev.payload
    FROM leased l
    JOIN webhook_endpoint e ON e.id = l.endpoint_id
    JOIN outbound_event ev ON ev.id = l.event_id`);
  return sqlRows<ClaimedDelivery>(result);
}

/**
 * Logs the attempt and moves the delivery on, in one transaction: `delivered` on a 2xx; otherwise pending
 * with its next attempt after retryDelaySeconds (never later than `give_up_at`), or `failed` when the
 * three days are up. Only a pending delivery changes (a resend or another worker may have settled it).
 */
async function recordAttempt(
  db: Database,
  delivery: ClaimedDelivery,
  result: SendResult,
  now: Date | undefined,
): Promise<"delivered" | "pending" | "failed"> {
  const at = atTime(now);
  const retryAfter = retryDelaySeconds(delivery.attempts + 1);
  return db.transaction(async (tx) => {
    await tx.execute(sql`
      INSERT INTO webhook_delivery_attempt (delivery_id, attempted_at, status_code, error, response_body, duration_ms)
      VALUES (${delivery.id}, ${at}, ${result.statusCode}, ${result.error}, ${result.responseBody}, ${result.durationMs})`);
    const [row] = sqlRows<{ status: "delivered" | "pending" | "failed" }>(
      await tx.execute(sql`
        UPDATE webhook_delivery SET
          attempts = attempts + 1,
          last_attempt_at = ${at},
          last_status_code = ${result.statusCode},
          last_error = ${result.error},
          leased_until = NULL,
          status = CASE WHEN ${result.ok} THEN 'delivered' WHEN ${at} >= give_up_at THEN 'failed' ELSE 'pending' END,
          delivered_at = CASE WHEN ${result.ok} THEN ${at} ELSE NULL END,
          next_attempt_at = CASE WHEN ${result.ok} THEN next_attempt_at
                                 ELSE least(${at} + make_interval(secs => ${retryAfter}), give_up_at) END
        WHERE id = ${delivery.id} AND status = 'pending'
        RETURNING status`),
    );
    return row?.status ?? "delivered";
  });
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}

/**
 * One pass of the delivery worker: claims the due heads of the queues (see claimDueDeliveries), sends
 * each (signed, with a timeout) and records what happened. Several instances may run passes at once. A
 * failure of one delivery never stops the others; an error of the database is thrown to the job runner.
 */
export async function deliverDueWebhooks(
  db: Database,
  options: DeliveryPassOptions = {},
): Promise<DeliveryPassResult> {
  const claimed = await claimDueDeliveries(db, options);
  const tally: DeliveryPassResult = { delivered: 0, retrying: 0, failed: 0 };
  await inBatches(claimed, options.concurrency ?? 8, async (delivery) => {
    const result = await sendWebhook({
      url: delivery.url,
      secret: delivery.secret,
      eventId: delivery.eventId,
      // jsonb gives the same text for the same value: a retry sends the very same bytes.
      body: JSON.stringify(delivery.payload),
      timeoutMs: options.timeoutMs,
    });
    const status = await recordAttempt(db, delivery, result, options.now);
    if (status === "delivered") tally.delivered++;
    else if (status === "failed") tally.failed++;
    else tally.retrying++;
    if (!result.ok) {
      logger.warn(
        {
          eventId: delivery.eventId,
          deliveryId: delivery.id,
          userId: delivery.userId,
          reason: result.error,
          status,
        },
        "outbound: delivery attempt failed",
      );
    }
  });
  return tally;
}

/**
 * Passes until nothing is due (each pass lets the next event of an account through), at most `maxPasses`
 * or until `shouldStop` says so. What the scheduled job runs.
 */
export async function runWebhookDelivery(
  db: Database,
  options: DeliveryPassOptions & { maxPasses?: number; shouldStop?: () => boolean } = {},
): Promise<DeliveryPassResult> {
  const total: DeliveryPassResult = { delivered: 0, retrying: 0, failed: 0 };
  for (let pass = 0; pass < (options.maxPasses ?? 100); pass++) {
    if (options.shouldStop?.()) break;
    const result = await deliverDueWebhooks(db, options);
    total.delivered += result.delivered;
    total.retrying += result.retrying;
    total.failed += result.failed;
    if (result.delivered + result.retrying + result.failed === 0) break;
  }
  if (total.delivered + total.retrying + total.failed > 0)
    logger.info(total, "outbound: delivery worker pass");
  return total;
}

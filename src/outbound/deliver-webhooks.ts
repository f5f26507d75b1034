import { type SQL, sql } from "drizzle-orm";
import { allowPrivateWebhookUrls } from "@/config/env";
import { sqlRows, sqlStateOf } from "@/credits/sql-rows";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { DEFAULT_SEND_TIMEOUT_MS, type SendResult, sendWebhook } from "./send-webhook";

/** The wait after a first failed attempt, in seconds: what DeliveryPassOptions.firstRetrySeconds defaults to. */
export const FIRST_RETRY_SECONDS = 30;

/**
 * Seconds to wait after the `attempts`-th failed attempt: `firstRetrySeconds` (30 s), then twice as long
 * each time, at most 6 hours apart. With the three-day limit that is about twenty attempts; the last one is
 * made when the three days are up (the wait is cut to that moment), then the delivery is `failed`.
 */
export function retryDelaySeconds(attempts: number, firstRetrySeconds = FIRST_RETRY_SECONDS): number {
  return Math.min(firstRetrySeconds * 2 ** Math.max(attempts - 1, 0), 6 * 3600);
}

/**
 * How long, in seconds, a worker keeps a delivery it took beyond its send timeout; after that another may
 * take it: what DeliveryPassOptions.leaseMarginSeconds defaults to. It covers recording the attempt after
 * the answer (or the timeout): a lease that ran out before that lets a second worker send the event again.
 */
export const LEASE_MARGIN_SECONDS = 30;

type ClaimedDelivery = {
  id: string;
  attempts: number;
  url: string;
  secret: string;
  eventId: string;
  payload: unknown;
  userId: string;
  /** The lease this worker holds, as the claim wrote it: the token of takeLease(). */
  leasedUntil: Date;
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
  /**
   * Seconds before the first retry of a failed attempt (30 by default; each later wait doubles). Tests that
   * take a receiver down for a few seconds shorten it instead of waiting half a minute.
   */
  firstRetrySeconds?: number;
  /**
   * Seconds a lease lasts beyond the send timeout (LEASE_MARGIN_SECONDS, 30, by default). Tests that let a
   * lease run out while a pass is still sending shorten it instead of waiting half a minute.
   */
  leaseMarginSeconds?: number;
};

export type DeliveryPassResult = { delivered: number; retrying: number; failed: number };

function atTime(now: Date | undefined): SQL {
  return now ? sql`${now.toISOString()}::timestamptz` : sql`now()`;
}

function leaseSecondsFor(options: DeliveryPassOptions): number {
  const margin = options.leaseMarginSeconds ?? LEASE_MARGIN_SECONDS;
  return Math.ceil((options.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS) / 1000) + margin;
}

/**
 * The end of a lease taken at `now`, cut to milliseconds so that the value read back (a Date) is exactly
 * the stored one and can be compared with it (takeLease).
 */
function leaseEnd(now: SQL, seconds: number): SQL {
  return sql`date_trunc('milliseconds', ${now} + make_interval(secs => ${seconds}))`;
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
      UPDATE webhook_delivery d SET leased_until = ${leaseEnd(now, leaseSecondsFor(options))}
      FROM due WHERE d.id = due.id
      RETURNING d.id, d.attempts, d.endpoint_id, d.event_id, d.user_id, d.leased_until
    )
    SELECT l.id, l.attempts, e.url, e.secret, l.event_id AS "eventId", l.user_id AS "userId", ev.payload,
      l.leased_until AS "leasedUntil"
    FROM leased l
    JOIN webhook_endpoint e ON e.id = l.endpoint_id
    JOIN outbound_event ev ON ev.id = l.event_id`);
  return sqlRows<ClaimedDelivery>(result).map((row) => ({ ...row, leasedUntil: new Date(row.leasedUntil) }));
}

/**
 * Renews this worker's lease on a claimed delivery just before it is sent, for a full send timeout and
 * margin from now; false when the lease is no longer this worker's. A pass claims up to `limit` deliveries
 * at once but sends only `concurrency` at a time, so a delivery may wait in memory past the lease the claim
 * gave it; by then another worker may have claimed it (its lease ran out) and sent it. Sending it here too
 * would hand the receiver a duplicate, so a delivery is sent only under a lease renewed by a compare-and-set
 * on the value this worker wrote: an expired lease nobody else took is still this worker's (nobody sent it);
 * a delivery another worker claimed, settled, or deleted with its endpoint is skipped.
 */
async function takeLease(db: Database, delivery: ClaimedDelivery, options: DeliveryPassOptions) {
  const renewed = sqlRows<{ leasedUntil: Date | string }>(
    await db.execute(sql`
      UPDATE webhook_delivery SET leased_until = ${leaseEnd(atTime(options.now), leaseSecondsFor(options))}
      WHERE id = ${delivery.id} AND status = 'pending'
        AND leased_until = ${delivery.leasedUntil.toISOString()}::timestamptz
      RETURNING leased_until AS "leasedUntil"`),
  );
  const [row] = renewed;
  if (!row) return false;
  delivery.leasedUntil = new Date(row.leasedUntil);
  return true;
}

/** SQLSTATE foreign_key_violation: the row referred to is gone (here: a delivery deleted with its endpoint). */
const FOREIGN_KEY_VIOLATION = "23503";

/**
 * Logs the attempt and moves the delivery on, in one transaction: `delivered` on a 2xx; otherwise pending
 * with its next attempt after retryDelaySeconds (never later than `give_up_at`), or `failed` when the
 * three days are up. Only a pending delivery changes (a resend or another worker may have settled it).
 */
async function recordAttempt(
  db: Database,
  delivery: ClaimedDelivery,
  result: SendResult,
  options: DeliveryPassOptions,
): Promise<"delivered" | "pending" | "failed" | "gone"> {
  const at = atTime(options.now);
  const retryAfter = retryDelaySeconds(delivery.attempts + 1, options.firstRetrySeconds);
  // The endpoint (and with it this delivery and its log) may be deleted while the event is in flight: the
  // attempt's row then has nothing to belong to (23503). That result is dropped ("gone"), and the pass
  // goes on with the other deliveries. By SQLSTATE, never by message text (it differs between servers).
  return recordAttemptRows(db, delivery, result, at, retryAfter).catch((error: unknown) => {
    if (sqlStateOf(error) === FOREIGN_KEY_VIOLATION) return "gone" as const;
    throw error;
  });
}

async function recordAttemptRows(
  db: Database,
  delivery: ClaimedDelivery,
  result: SendResult,
  at: SQL,
  retryAfter: number,
): Promise<"delivered" | "pending" | "failed"> {
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
  const allowPrivate = allowPrivateWebhookUrls();
  await inBatches(claimed, options.concurrency ?? 8, async (delivery) => {
    if (!(await takeLease(db, delivery, options))) return;
    const result = await sendWebhook({
      url: delivery.url,
      secret: delivery.secret,
      eventId: delivery.eventId,
      // jsonb gives the same text for the same value: a retry sends the very same bytes.
      body: JSON.stringify(delivery.payload),
      timeoutMs: options.timeoutMs,
      allowPrivate,
    });
    const status = await recordAttempt(db, delivery, result, options);
    if (status === "gone") return;
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

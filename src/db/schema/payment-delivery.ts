import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The payment sandbox's idempotency keys, as Stripe keeps them: the first request with a key stores its
 * operation, a fingerprint of its parameters and its answer; a repeat with the same parameters gets that
 * answer back, a repeat with other parameters is refused (`idempotency_error`). The row is written in the
 * same transaction as the operation, so a concurrent repeat waits for the first and then replays it.
 * Keys may be reused after 24 hours, as Stripe prunes them.
 */
export const sandboxIdempotency = pgTable("sandbox_idempotency", {
  idempotencyKey: text().primaryKey(),
  /** "POST /v1/refunds" and the like: a key reused on another endpoint is an error too. */
  operation: text().notNull(),
  requestHash: text().notNull(),
  /** HTTP status of the stored answer (200, or the 4xx the first request got). */
  responseStatus: integer().notNull(),
  responseBody: jsonb().$type<Record<string, unknown>>().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/**
 * Events of the payment sandbox waiting to be delivered (an outbox). Each row is written in the same
 * transaction that moves a sandbox PaymentIntent or refund to its new state, so no state change is
 * without its event; it is delivered at once and, if that fails, retried with exponential backoff by the
 * jobs until it is delivered, as Stripe retries its webhooks.
 */
export const sandboxEventOutbox = pgTable(
  "sandbox_event_outbox",
  {
    /** The event id (`evt_sbx_…`): the webhook path records it, so any number of deliveries apply once. */
    id: text().primaryKey(),
    type: text().notNull(),
    /** The PaymentIntent the event is about, when there is one (a subscription's cancellation has none). */
    paymentIntentId: text(),
    /**
     * The sandbox subscription the event belongs to, if any: its events are delivered in order, per
     * subscription, as a PaymentIntent's are.
     */
    subscriptionId: text(),
    /** The event's JSON exactly as it is signed and delivered. */
    payload: text().notNull(),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp({ withTimezone: true }),
    lastError: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("sandbox_event_outbox_due_idx").on(t.nextAttemptAt).where(sql`${t.deliveredAt} IS NULL`),
    index("sandbox_event_outbox_intent_idx").on(t.paymentIntentId),
    index("sandbox_event_outbox_subscription_idx").on(t.subscriptionId),
  ],
);

/**
 * Verified webhook events whose processing failed. Written in a transaction of its own after the
 * processing transaction rolled back, with the reason and the verified payload, so an operator sees them
 * (Admin → Failed webhooks, `verify`) and can process them again once the cause is fixed. A later
 * successful delivery of the same event, or a retry from the console, marks the row resolved.
 */
export const webhookFailure = pgTable(
  "webhook_failure",
  {
    eventId: text().primaryKey(),
    eventType: text().notNull(),
    /** The verified event's raw JSON body, to process it again without Stripe. */
    payload: text().notNull(),
    /** The error code as the webhook answered it (`internal_error`, `database_busy`, …). */
    errorCode: text().notNull(),
    reason: text().notNull(),
    attempts: integer().notNull().default(1),
    firstFailedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastFailedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    resolvedAt: timestamp({ withTimezone: true }),
    /** "redelivery", or the admin who retried it. */
    resolvedBy: text(),
    /** The event's outcome once it was processed. */
    resolution: text(),
  },
  (t) => [index("webhook_failure_unresolved_idx").on(t.lastFailedAt).where(sql`${t.resolvedAt} IS NULL`)],
);

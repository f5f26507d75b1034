import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * An operator's receiver of outbound events (src/outbound). `secret` signs every delivery (Standard
 * Webhooks, `whsec_<base64>`); it is shown once, in the answer that creates the endpoint, and kept here
 * because signing needs it. `eventTypes` is what the endpoint wants: an event is written only when some
 * enabled endpoint wants its type.
 */
export const webhookEndpoint = pgTable(
  "webhook_endpoint",
  {
    id: uuid().primaryKey().defaultRandom(),
    url: text().notNull(),
    description: text(),
    eventTypes: text().array().notNull(),
    secret: text().notNull(),
    enabled: boolean().notNull().default(true),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check("webhook_endpoint_event_types_present", sql`cardinality(${t.eventTypes}) > 0`)],
);

/**
 * The outbox: one row per event, written in the same transaction as the ledger change it describes (by
 * the triggers of src/outbound/sql/outbound-events.sql), so an event exists exactly when its change
 * committed. `payload` is the whole JSON body every delivery sends, byte for byte the same on a retry.
 * `seq` orders an account's events (the order they were written).
 */
export const outboundEvent = pgTable(
  "outbound_event",
  {
    id: text().primaryKey(),
    seq: bigint({ mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    type: text().notNull(),
    /** The account's user id; no foreign key, so an event outlives a deleted account's rows. */
    userId: text().notNull(),
    payload: jsonb().$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("outbound_event_created_idx").on(t.createdAt)],
);

/**
 * One event to one endpoint. `pending` until a 2xx answer (`delivered`) or until `giveUpAt` passes
 * (`failed`). A worker leases a due delivery (`leasedUntil`) before sending it, so workers on several
 * instances never send the same delivery at once, and a worker that died gives it up when the lease ends.
 */
export const webhookDelivery = pgTable(
  "webhook_delivery",
  {
    id: uuid().primaryKey().defaultRandom(),
    endpointId: uuid()
      .notNull()
      .references(() => webhookEndpoint.id, { onDelete: "cascade" }),
    eventId: text()
      .notNull()
      .references(() => outboundEvent.id, { onDelete: "cascade" }),
    /** Copies of the event's seq and account: the per-account order is decided on this table alone. */
    eventSeq: bigint({ mode: "number" }).notNull(),
    userId: text().notNull(),
    status: text().notNull().default("pending"),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    leasedUntil: timestamp({ withTimezone: true }),
    /** After this moment a failed attempt marks the delivery `failed` (three days from its creation or resend). */
    giveUpAt: timestamp({ withTimezone: true }).notNull(),
    lastAttemptAt: timestamp({ withTimezone: true }),
    lastStatusCode: integer(),
    lastError: text(),
    deliveredAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("webhook_delivery_status_known", sql`${t.status} IN ('pending', 'delivered', 'failed')`),
    // The worker's head-of-line look-up: the oldest pending delivery of each endpoint and account.
    index("webhook_delivery_pending_idx")
      .on(t.endpointId, t.userId, t.eventSeq)
      .where(sql`${t.status} = 'pending'`),
    index("webhook_delivery_event_idx").on(t.eventId),
    index("webhook_delivery_endpoint_recent_idx").on(t.endpointId, t.createdAt),
  ],
);

/** Every attempt to deliver, with what the receiver answered (truncated) or why nothing was answered. */
export const webhookDeliveryAttempt = pgTable(
  "webhook_delivery_attempt",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: uuid()
      .notNull()
      .references(() => webhookDelivery.id, { onDelete: "cascade" }),
    attemptedAt: timestamp({ withTimezone: true }).notNull(),
    /** The HTTP status, or null when no answer came (refused, timed out). */
    statusCode: integer(),
    error: text(),
    /** The first bytes of the answer's body. */
    responseBody: text(),
    durationMs: integer().notNull(),
  },
  (t) => [index("webhook_delivery_attempt_delivery_idx").on(t.deliveryId, t.id)],
);

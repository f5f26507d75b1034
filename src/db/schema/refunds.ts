import { sql } from "drizzle-orm";
import { boolean, check, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { creditPurchase } from "./credits";

/**
 * Every Stripe Refund seen for a purchase, by refund id, with its newest status and that event's `created`
 * time. A refund can fail after it was issued (status `failed`, reported by `charge.refund.updated`,
 * `refund.updated` or `refund.failed`); keeping each refund's latest status lets any order and repetition of
 * refund events end at the same refunded amount (src/credits/purchase-clawback-rules.ts).
 */
export const creditRefund = pgTable(
  "credit_refund",
  {
    refundId: text().primaryKey(),
    purchaseId: uuid()
      .notNull()
      .references(() => creditPurchase.id, { onDelete: "cascade" }),
    /** Minor units of the purchase's currency. */
    amount: integer().notNull(),
    status: text().notNull(),
    statusAt: timestamp({ withTimezone: true }).notNull(),
    /**
     * The Refund's own `created` time: a charge figure (`amount_refunded`) taken before it cannot include
     * it. Null for refunds recorded before this was kept (then any earlier figure may include it).
     */
    refundCreatedAt: timestamp({ withTimezone: true }),
    /**
     * The earliest event time that reported this refund failed or canceled: a charge figure taken from then
     * on no longer counts it (Stripe lowers the charge's `amount_refunded` when a refund fails).
     */
    failedAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("credit_refund_amount_non_negative", sql`${t.amount} >= 0`),
    index("credit_refund_purchase_idx").on(t.purchaseId),
  ],
);

/**
 * Every dispute seen for a purchase, by dispute id, with its newest `status`, the event type that carried
 * it and that event's `created` time. One charge can have several disputes over its life (an inquiry that
 * closes, then a chargeback with another id); each keeps its own newest fact, so one dispute's terminal
 * status never hides another's withdrawn funds. The credits taken back follow the sum of the amounts of the
 * disputes whose newest fact has the funds withdrawn (src/credits/purchase-clawback-rules.ts).
 */
export const creditDispute = pgTable(
  "credit_dispute",
  {
    disputeId: text().primaryKey(),
    purchaseId: uuid()
      .notNull()
      .references(() => creditPurchase.id, { onDelete: "cascade" }),
    /** Minor units of the purchase's currency: the disputed amount. */
    amount: integer().notNull(),
    status: text().notNull(),
    eventType: text().notNull(),
    statusAt: timestamp({ withTimezone: true }).notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("credit_dispute_amount_non_negative", sql`${t.amount} >= 0`),
    index("credit_dispute_purchase_idx").on(t.purchaseId),
  ],
);

/**
 * Refunds asked for through the app (refundPurchase), recorded before the provider is asked: until the
 * refund's own events arrive, the purchase's refunded amount does not show it, so the refundable cap
 * counts these too. Two admins refunding the same invoice at once, or one refunding twice before
 * Stripe's events arrive, can then never refund more than was paid less what a proration credited back.
 *
 * `status`: `requested` (the provider is being asked; counts), `accepted` (the provider made `refundId`;
 * counts until a refund event names it or a charge figure taken after it includes it), `refused` (the
 * provider refused or could not be reached; never counts).
 */
export const refundRequest = pgTable(
  "refund_request",
  {
    id: uuid().primaryKey().defaultRandom(),
    purchaseId: uuid()
      .notNull()
      .references(() => creditPurchase.id, { onDelete: "cascade" }),
    /** Minor units of the purchase's currency. */
    amount: integer().notNull(),
    /**
     * Whether the provider was asked for `amount` (true) or left to refund the rest of the charge (false:
     * "refund the rest" with nothing else in flight). A retry under the same key must send exactly what
     * the first call sent, or Stripe refuses the key as reused with other parameters (`idempotency_error`).
     * Rows made before this column existed are taken as having sent their amount.
     */
    sendsAmount: boolean().notNull().default(true),
    status: text().notNull().default("requested"),
    refundId: text(),
    /** The key the provider is asked with: a double click or a retry of one request is this one row. */
    idempotencyKey: text().notNull().unique(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("refund_request_amount_positive", sql`${t.amount} > 0`),
    check("refund_request_status_known", sql`${t.status} IN ('requested', 'accepted', 'refused')`),
    index("refund_request_purchase_idx").on(t.purchaseId),
  ],
);

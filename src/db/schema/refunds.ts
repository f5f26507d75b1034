import { sql } from "drizzle-orm";
import { check, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
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
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("credit_refund_amount_non_negative", sql`${t.amount} >= 0`),
    index("credit_refund_purchase_idx").on(t.purchaseId),
  ],
);

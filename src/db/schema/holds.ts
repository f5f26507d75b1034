import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { creditAccount, creditEntry, creditLot } from "./credits";

/**
 * A reservation of credits for work whose cost is known only afterwards. Reserving moves credits out of
 * lots into the hold (so no other spend can take them); capture turns part or all of it into a spend and
 * returns the rest; release or expiry returns all of it.
 */
export const creditHold = pgTable(
  "credit_hold",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => creditAccount.userId, { onDelete: "cascade" }),
    amount: bigint({ mode: "number" }).notNull(),
    capturedAmount: bigint({ mode: "number" }),
    /**
     * Credits of this reservation that expired with their lots while the hold was open: they are no longer
     * held (the account's `held` is the open holds' `amount - expired_amount`). `amount` stays what was asked.
     */
    expiredAmount: bigint({ mode: "number" }).notNull().default(0),
    status: text().notNull().default("open"),
    description: text().notNull(),
    idempotencyKey: text().notNull(),
    requestHash: text().notNull(),
    captureEntryId: bigint({ mode: "number" }).references(() => creditEntry.id),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    closedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    check("credit_hold_amount_positive", sql`${t.amount} > 0`),
    check(
      "credit_hold_captured_in_range",
      sql`${t.capturedAmount} IS NULL OR (${t.capturedAmount} >= 0 AND ${t.capturedAmount} <= ${t.amount})`,
    ),
    check("credit_hold_expired_in_range", sql`${t.expiredAmount} >= 0 AND ${t.expiredAmount} <= ${t.amount}`),
    check("credit_hold_status_known", sql`${t.status} IN ('open', 'captured', 'released', 'expired')`),
    uniqueIndex("credit_hold_user_idempotency_key").on(t.userId, t.idempotencyKey),
    index("credit_hold_open_expiry_idx").on(t.expiresAt).where(sql`${t.status} = 'open'`),
    // Expiry looks for a user's open holds on every mutation that finds credits held: this keeps that look-up
    // independent of how many holds the user has closed.
    index("credit_hold_open_user_idx").on(t.userId).where(sql`${t.status} = 'open'`),
  ],
);

/** Which lots a hold reserved from, so capture and release put credits back where they came from. */
export const creditHoldAllocation = pgTable(
  "credit_hold_allocation",
  {
    holdId: uuid()
      .notNull()
      .references(() => creditHold.id, { onDelete: "cascade" }),
    lotId: uuid()
      .notNull()
      .references(() => creditLot.id, { onDelete: "cascade" }),
    amount: bigint({ mode: "number" }).notNull(),
    /** Draw order, so capture keeps the soonest-expiring credits and returns the others. */
    position: bigint({ mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.holdId, t.lotId] }),
    check("credit_hold_allocation_amount_positive", sql`${t.amount} > 0`),
  ],
);

import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { user } from "./auth";

/**
 * A user's auto top-up (src/auto-top-up): when the available balance falls below `thresholdCredits`, the
 * package `packageId` is bought off-session with the card saved through a SetupIntent, at most
 * `monthlyCapAmount` (minor units of the package's currency) per calendar month (UTC). Of the card only the
 * provider's payment method id, brand and last four digits are kept, never the number.
 *
 * The trigger that decides a top-up (src/auto-top-up/sql/auto-top-up.sql) reads this row only when a
 * change takes the balance across the threshold; whether to call it at all is decided by
 * `credit_account.auto_top_up_threshold` (this row's threshold while enabled, null otherwise), so spends
 * of accounts without auto top-up never reach it.
 */
export const autoTopUp = pgTable(
  "auto_top_up",
  {
    userId: text()
      .primaryKey()
      .references(() => user.id, { onDelete: "cascade" }),
    enabled: boolean().notNull().default(false),
    packageId: text().notNull(),
    /** The package's price when the setting was saved (minor units), what the monthly cap counts. */
    packageAmount: integer().notNull(),
    currency: text().notNull(),
    thresholdCredits: integer().notNull(),
    /** Most spent by auto top-up in one calendar month (UTC), minor units of `currency`. */
    monthlyCapAmount: integer().notNull(),
    /** The provider's payment method (`pm_…`), recorded only from a succeeded SetupIntent the server read. */
    paymentMethodId: text(),
    setupIntentId: text(),
    cardBrand: text(),
    cardLast4: text(),
    /** When the provider created the SetupIntent the card came from: an older one never replaces a newer one. */
    cardSetUpAt: timestamp({ withTimezone: true }),
    /** The language of its emails: the locale of the page the setting was saved on. */
    locale: text().notNull().default("en"),
    /** Declined top-ups since the last one that succeeded; the third in a row turns auto top-up off. */
    consecutiveFailures: integer().notNull().default(0),
    /** Why auto top-up turned itself off (`three_failures`); null while the user decides. */
    disabledReason: text(),
    /** The last time the monthly cap stopped a top-up (shown until the month ends). */
    capReachedAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("auto_top_up_threshold_positive", sql`${t.thresholdCredits} >= 1`),
    // The cap must allow one top-up, or enabling would promise something that can never happen.
    check("auto_top_up_cap_covers_package", sql`${t.monthlyCapAmount} >= ${t.packageAmount}`),
    check("auto_top_up_package_amount_positive", sql`${t.packageAmount} > 0`),
    check("auto_top_up_failures_non_negative", sql`${t.consecutiveFailures} >= 0`),
    // Off-session charges need a saved card: enabled without one could never top up.
    check("auto_top_up_enabled_has_card", sql`NOT ${t.enabled} OR ${t.paymentMethodId} IS NOT NULL`),
    check("auto_top_up_locale_known", sql`${t.locale} IN ('en', 'zh')`),
  ],
);

/** The statuses of an attempt that is still under way: at most one such attempt per user (see the index). */
export const AUTO_TOP_UP_IN_FLIGHT = ["pending", "processing", "requires_action"] as const;

/**
 * One decided top-up. Its id is the basis of the provider's idempotency key (`auto-top-up:<id>`), so a
 * retried charge of one attempt can never make a second PaymentIntent. `pending` (decided, not charged
 * yet) → `processing` (a worker holds its lease) → `succeeded` | `failed` | `requires_action` (the bank
 * wants the cardholder: an email links to the credits page) | `canceled` (nothing charged: auto top-up
 * turned off or the package left the catalog before the charge, or the unfinished payment expired).
 * Credits come only from the purchase's `payment_intent.succeeded` (src/payment/webhooks).
 */
export const autoTopUpAttempt = pgTable(
  "auto_top_up_attempt",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    packageId: text().notNull(),
    /** Minor units of `currency`: what this attempt may charge, counted against the monthly cap. */
    amount: integer().notNull(),
    currency: text().notNull(),
    status: text().notNull().default("pending"),
    /** The available balance that started it (credits). */
    availableAtStart: integer(),
    /** Our purchase row, made once per attempt before the charge (its id is in the PaymentIntent's metadata). */
    purchaseId: uuid(),
    paymentIntentId: text(),
    /** The client secret of an attempt waiting for the cardholder (the credits page confirms it). */
    clientSecret: text(),
    tries: integer().notNull().default(0),
    nextTryAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    leasedUntil: timestamp({ withTimezone: true }),
    failureCode: text(),
    failureMessage: text(),
    detail: jsonb().$type<Record<string, unknown>>(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      "auto_top_up_attempt_status_known",
      sql`${t.status} IN ('pending', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled')`,
    ),
    check("auto_top_up_attempt_amount_positive", sql`${t.amount} > 0`),
    // "Never more than one top-up in flight per user" as a fact of the database: a second insert while one
    // is under way conflicts (the trigger inserts ON CONFLICT DO NOTHING), whatever the timing.
    uniqueIndex("auto_top_up_attempt_one_in_flight")
      .on(t.userId)
      .where(sql`${t.status} IN ('pending', 'processing', 'requires_action')`),
    // The monthly cap's sum and the page's list of recent attempts.
    index("auto_top_up_attempt_user_idx").on(t.userId, t.createdAt),
    // The worker's look-up: only attempts still to charge.
    index("auto_top_up_attempt_due_idx").on(t.nextTryAt).where(sql`${t.status} IN ('pending', 'processing')`),
    uniqueIndex("auto_top_up_attempt_payment_intent_idx").on(t.paymentIntentId),
  ],
);

/**
 * The sandbox's SetupIntents (Stripe's test mode offline): a succeeded one holds the payment method it made
 * (`pm_sbx_…`) and how that card behaves when charged off-session (`succeeds`, `requires_action`,
 * `charge_fails`), with its last four digits; never a card number.
 */
export const sandboxSetupIntent = pgTable(
  "sandbox_setup_intent",
  {
    /** `seti_sbx_…` */
    id: text().primaryKey(),
    clientSecret: text().notNull(),
    userId: text().notNull(),
    customerId: text().notNull(),
    status: text().notNull(),
    paymentMethodId: text().unique(),
    cardBehavior: text(),
    cardLast4: text(),
    lastError: jsonb().$type<{ code: string; decline_code?: string; message: string }>(),
    idempotencyKey: text().unique(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("sandbox_setup_intent_user_idx").on(t.userId)],
);

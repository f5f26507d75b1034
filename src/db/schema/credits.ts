import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { user } from "./auth";

/**
 * One row per credit account: the ledger's owner. Its row lock serializes every ledger mutation of that
 * account (see src/credits/lock-account.ts), and `balance` is the running total of the ledger: the
 * `balance_after` of the newest entry. The CHECK is the last line of defence against a negative balance.
 *
 * An account belongs to a signed-up user (`user_id` is the user's id, `external_id` null) or to another
 * backend's customer, named by that backend's `external_id` (`user_id` is then an id made for it,
 * `cus_<uuid>`, which Better Auth never makes: its ids are letters and digits only). Every ledger table keeps
 * pointing at `user_id`, so the ledger, its SQL functions and the API's `userId` are the same for both.
 */
export const creditAccount = pgTable(
  "credit_account",
  {
    userId: text().primaryKey(),
    /**
     * The owning user, for a user's account only (generated: `user_id` when `external_id` is null). The
     * foreign key sits on this column rather than on `user_id`, so a customer's account needs no user row,
     * while a user's account still needs its user and is still deleted with it (ON DELETE CASCADE, and the
     * ledger with it).
     */
    ownerUserId: text()
      .generatedAlwaysAs(sql`CASE WHEN external_id IS NULL THEN user_id END`)
      .references(() => user.id, { onDelete: "cascade" }),
    /** The customer's id in the backend that created it (src/credits/customers.ts); unique per installation. */
    externalId: text().unique(),
    email: text(),
    name: text(),
    /** The customer's metadata: a small JSON object (limits in src/service-api/schemas.ts). */
    metadata: jsonb().$type<Record<string, unknown>>(),
    /** When the account was made (accounts made before this column: when it was added). */
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    balance: bigint({ mode: "number" }).notNull().default(0),
    /** Credits reserved by open holds: taken out of the lots, still part of the balance until captured. */
    held: bigint({ mode: "number" }).notNull().default(0),
    /** Credits owed after a refund or dispute took back more than was left; repaid first from credits that come back. */
    debt: bigint({ mode: "number" }).notNull().default(0),
    /**
     * Credits under which the account's available balance (balance - held) counts as low: crossing it
     * downwards writes a `balance.low` event (src/outbound/sql/outbound-events.sql). Null: no such event.
     */
    lowBalanceThreshold: bigint({ mode: "number" }),
    /**
     * The other way to say the threshold: a percentage (1-100) of the monthly credits of the plan in force
     * at the moment of each balance change (`plan_allocation`, src/alerts/sql/low-balance-alerts.sql).
     * At most one of the two is set.
     */
    lowBalanceThresholdPercent: integer(),
    /**
     * When the available balance last crossed the threshold downwards; null while the alert is armed. Set
     * and cleared by the database in the transaction of the change that crosses (low-balance-alerts.sql):
     * the row lock every ledger change takes makes that decision once per crossing.
     */
    lowBalanceAlertedAt: timestamp({ withTimezone: true }),
    /** The language of the account's alert emails: the locale of the page the alert was set on. */
    alertLocale: text(),
    /**
     * The auto top-up threshold while auto top-up is enabled (a copy of `auto_top_up.threshold_credits`),
     * null otherwise: the trigger's WHEN clause reads it, so accounts without auto top-up skip the decision
     * entirely (src/auto-top-up/sql/auto-top-up.sql).
     */
    autoTopUpThreshold: bigint({ mode: "number" }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("credit_account_balance_non_negative", sql`${t.balance} >= 0`),
    check("credit_account_held_within_balance", sql`${t.held} >= 0 AND ${t.held} <= ${t.balance}`),
    check("credit_account_debt_non_negative", sql`${t.debt} >= 0`),
    // A customer's account id is one Better Auth cannot make (its ids have no `_`), so a user signing up
    // can never be handed a customer's ledger; and the external id keeps the documented length.
    check(
      "credit_account_customer_id",
      sql`${t.externalId} IS NULL OR (left(${t.userId}, 4) = 'cus_' AND char_length(${t.externalId}) BETWEEN 1 AND 255)`,
    ),
    check(
      "credit_account_low_balance_threshold_positive",
      sql`${t.lowBalanceThreshold} IS NULL OR ${t.lowBalanceThreshold} > 0`,
    ),
    check(
      "credit_account_low_balance_percent_in_range",
      sql`${t.lowBalanceThresholdPercent} IS NULL OR ${t.lowBalanceThresholdPercent} BETWEEN 1 AND 100`,
    ),
    // One threshold, said one way: credits or a percentage, never both.
    check(
      "credit_account_low_balance_one_threshold",
      sql`${t.lowBalanceThreshold} IS NULL OR ${t.lowBalanceThresholdPercent} IS NULL`,
    ),
    check(
      "credit_account_auto_top_up_threshold_positive",
      sql`${t.autoTopUpThreshold} IS NULL OR ${t.autoTopUpThreshold} > 0`,
    ),
    check(
      "credit_account_alert_locale_known",
      sql`${t.alertLocale} IS NULL OR ${t.alertLocale} IN ('en', 'zh')`,
    ),
  ],
);

/**
 * A lot is one grant of credits. Spends draw `remaining` down; expiry and refunds take the rest.
 * CHECKs keep 0 <= remaining <= credits so no code path can mint or overdraw a lot.
 */
export const creditLot = pgTable(
  "credit_lot",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => creditAccount.userId, { onDelete: "cascade" }),
    credits: bigint({ mode: "number" }).notNull(),
    remaining: bigint({ mode: "number" }).notNull(),
    /**
     * `remaining > 0`, kept by the database. The partial indexes filter on this flag rather than on
     * `remaining` itself, so a spend that lowers a lot without emptying it changes no indexed value and
     * PostgreSQL can update the row in place (a HOT update): no new index entries on every spend.
     */
    spendable: boolean().generatedAlwaysAs(sql`remaining > 0`),
    expiresAt: timestamp({ withTimezone: true }),
    source: text().notNull(),
    category: text().notNull(),
    grantEntryId: bigint({ mode: "number" }),
    purchaseId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("credit_lot_credits_positive", sql`${t.credits} > 0`),
    check("credit_lot_remaining_in_range", sql`${t.remaining} >= 0 AND ${t.remaining} <= ${t.credits}`),
    check("credit_lot_category_known", sql`${t.category} IN ('paid', 'promotional')`),
    // Only lots with credits left matter for spending and balances; the partial index keeps
    // those look-ups independent of how many exhausted lots a user has accumulated.
    index("credit_lot_spendable_idx").on(t.userId, t.expiresAt, t.createdAt).where(sql`${t.spendable}`),
    index("credit_lot_purchase_idx").on(t.purchaseId),
    // The expiry sweep looks for lots due anywhere, by time: this keeps that scan to the due lots only.
    index("credit_lot_due_idx").on(t.expiresAt).where(sql`${t.spendable} AND ${t.expiresAt} IS NOT NULL`),
  ],
);

/**
 * The append-only ledger. Every change of a balance is one entry with its signed amount and the
 * balance after it. (user_id, idempotency_key) is unique so a retried mutation can never apply twice;
 * `request_hash` lets a retry with different parameters be refused instead of silently answered.
 */
export const creditEntry = pgTable(
  "credit_entry",
  {
    id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    userId: text()
      .notNull()
      .references(() => creditAccount.userId, { onDelete: "cascade" }),
    type: text().notNull(),
    amount: bigint({ mode: "number" }).notNull(),
    balanceAfter: bigint({ mode: "number" }).notNull(),
    /** How this entry changed the account's debt: + when a clawback could not be covered, − when repaid. */
    debtChange: bigint({ mode: "number" }).notNull().default(0),
    description: text().notNull(),
    reference: text(),
    idempotencyKey: text().notNull(),
    requestHash: text().notNull(),
    metadata: jsonb().$type<Record<string, unknown>>(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // An entry must change something: the balance, or (a clawback of credits already spent) the debt.
    check("credit_entry_changes_something", sql`${t.amount} <> 0 OR ${t.debtChange} <> 0`),
    check("credit_entry_balance_after_non_negative", sql`${t.balanceAfter} >= 0`),
    uniqueIndex("credit_entry_user_idempotency_key").on(t.userId, t.idempotencyKey),
    index("credit_entry_user_history_idx").on(t.userId, t.id),
    // Usage analytics read one user's entries in a time range (src/credits/get-credit-usage.ts) and the
    // newest entry before it: this index bounds both by the range, never the user's whole history.
    index("credit_entry_user_created_idx").on(t.userId, t.createdAt, t.id),
  ],
);

/** Which lots a debit drew from, and how much from each: the audit trail behind every spend. */
export const creditAllocation = pgTable(
  "credit_allocation",
  {
    entryId: bigint({ mode: "number" })
      .notNull()
      .references(() => creditEntry.id, { onDelete: "cascade" }),
    lotId: uuid()
      .notNull()
      .references(() => creditLot.id, { onDelete: "cascade" }),
    amount: bigint({ mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.entryId, t.lotId] }),
    check("credit_allocation_amount_positive", sql`${t.amount} > 0`),
    index("credit_allocation_lot_idx").on(t.lotId),
  ],
);

/**
 * A purchase holds a snapshot of what was sold (credits, price, currency) at the moment the
 * PaymentIntent was created, so a later change of the package config cannot change what is granted.
 */
export const creditPurchase = pgTable(
  "credit_purchase",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    packageId: text().notNull(),
    credits: integer().notNull(),
    amount: integer().notNull(),
    currency: text().notNull(),
    expireDays: integer(),
    provider: text().notNull(),
    /**
     * `pending`, `succeeded`, `failed`, `canceled`, `requires_review`, `abandoned` (a pay dialog left open a
     * day), or `invoice_unpaid`: a subscription invoice's purchase recorded by an early refund or dispute
     * whose invoice the provider reports void, uncollectible or unknown (settle-pending-invoice-purchases.ts).
     */
    status: text().notNull().default("pending"),
    paymentIntentId: text().unique(),
    grantEntryId: bigint({ mode: "number" }),
    /** Cumulative amount refunded (minor units), as Stripe reports it on the charge. */
    amountRefunded: integer().notNull().default(0),
    /** Funds withdrawn by a dispute that has not been won back. */
    disputed: boolean().notNull().default(false),
    /** Credits taken back so far for refunds and disputes; each event moves this toward its target once. */
    clawedBackCredits: integer().notNull().default(0),
    /**
     * How many clawback and reinstatement steps this purchase has taken. Each step's ledger key carries its
     * number (incremented under the purchase's row lock), so a step never repeats an earlier step's key,
     * even when the same amounts come round again (disputed, won, then refunded).
     */
    clawbackSequence: integer().notNull().default(0),
    /** The charge's cumulative `amount_refunded` from the newest charge event seen, and that event's time. */
    chargeAmountRefunded: integer().notNull().default(0),
    chargeRefundedAt: timestamp({ withTimezone: true }),
    /**
     * The newest dispute fact seen: the dispute's `status`, the event type that carried it, and the event's
     * `created` time. An older event never overrides a newer one; `disputed` is derived from these.
     */
    disputeStatus: text(),
    disputeEventType: text(),
    disputeEventAt: timestamp({ withTimezone: true }),
    failureCode: text(),
    failureMessage: text(),
    flaggedReason: text(),
    /**
     * What was sold: `package` (a credit package; `packageId` names it) or `subscription_invoice` (a paid
     * subscription invoice; `packageId` names the plan, `invoiceId` the invoice). Refunds and disputes of
     * either take credits back by the same rules (src/payment/settle-purchase-clawback.ts).
     */
    kind: text().notNull().default("package"),
    /** The subscription (our id) whose invoice this is; null for packages. */
    subscriptionId: uuid(),
    /** The provider's invoice; one purchase per paid invoice. */
    invoiceId: text().unique(),
    /**
     * Credits granted so far, for a purchase whose credits arrive over time (a yearly plan's twelve monthly
     * slots); null when all of `credits` were granted at once. Refunds take back a share of these only:
     * credits never issued cannot be clawed back, and the slots not yet issued are stopped instead.
     */
    creditsIssued: integer(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // A package sells credits. A subscription invoice's purchase records what the invoice granted, which
    // may be none (a downgrade's or a proration-only invoice that took money but grants nothing, or an
    // invoice not yet applied): its true figure, so Admin and refunds never read a placeholder.
    check(
      "credit_purchase_credits_positive",
      sql`${t.credits} > 0 OR (${t.kind} = 'subscription_invoice' AND ${t.credits} >= 0)`,
    ),
    check("credit_purchase_kind_known", sql`${t.kind} IN ('package', 'subscription_invoice')`),
    check(
      "credit_purchase_credits_issued_in_range",
      sql`${t.creditsIssued} IS NULL OR (${t.creditsIssued} >= 0 AND ${t.creditsIssued} <= ${t.credits})`,
    ),
    check("credit_purchase_amount_positive", sql`${t.amount} > 0`),
    check(
      "credit_purchase_refund_in_range",
      sql`${t.amountRefunded} >= 0 AND ${t.amountRefunded} <= ${t.amount}`,
    ),
    check(
      "credit_purchase_clawback_in_range",
      sql`${t.clawedBackCredits} >= 0 AND ${t.clawedBackCredits} <= ${t.credits}`,
    ),
    check(
      "credit_purchase_status_known",
      sql`${t.status} IN ('pending', 'succeeded', 'failed', 'canceled', 'requires_review', 'abandoned', 'invoice_unpaid')`,
    ),
    index("credit_purchase_user_idx").on(t.userId, t.createdAt),
    // The scheduled job marks pay dialogs left open for a day `abandoned`: it scans only pending purchases.
    index("credit_purchase_pending_idx").on(t.createdAt).where(sql`${t.status} = 'pending'`),
    // The sweep re-settles purchases with credits taken back whose own credits expired since
    // (src/payment/settle-expired-clawbacks.ts): it scans only those.
    index("credit_purchase_clawed_back_idx").on(t.id).where(sql`${t.clawedBackCredits} > 0`),
    // Reconciliation checks the purchases abandoned within its window (src/payment/reconcile-payments.ts).
    index("credit_purchase_abandoned_idx").on(t.updatedAt).where(sql`${t.status} = 'abandoned'`),
  ],
);

/** Every webhook event id is recorded once, in the same transaction as its effects. */
export const webhookEvent = pgTable("webhook_event", {
  id: text().primaryKey(),
  type: text().notNull(),
  outcome: text().notNull(),
  receivedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** The offline payment sandbox's PaymentIntents, shaped like Stripe's test mode. */
export const sandboxPaymentIntent = pgTable("sandbox_payment_intent", {
  id: text().primaryKey(),
  clientSecret: text().notNull(),
  amount: integer().notNull(),
  currency: text().notNull(),
  status: text().notNull(),
  metadata: jsonb().$type<Record<string, string>>().notNull(),
  idempotencyKey: text().notNull().unique(),
  amountRefunded: integer().notNull().default(0),
  lastError: jsonb().$type<{ code: string; decline_code?: string; message: string }>(),
  /** The sandbox invoice this PaymentIntent pays (a subscription's), or null for a package purchase. */
  invoiceId: text(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

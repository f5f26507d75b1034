import { bigint, date, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

/**
 * The operators' overview reads these instead of the ledger, so a page view costs the same on 1,000 entries
 * as on 10,000,000. Each aggregate is two tables: the compacted sums (one row per key) and the deltas that
 * triggers append in the transaction of every ledger write (src/credits/sql/ledger-aggregates.sql). The truth
 * at any commit is sums + deltas. A trigger only ever inserts a delta row, so ledger writes never wait on one
 * another for an aggregate row (an upsert of shared rows would: and a transaction that locks several accounts,
 * like the expiry sweep, would deadlock against a spend waiting for the same row). The sweep job folds the
 * deltas into the sums every minute (creditkit_compact_ledger_aggregates), which keeps the deltas few.
 * `verify` recomputes sums + deltas from the ledger (src/credits/verify-ledger-aggregates.ts).
 */

/** Per UTC day and entry type: credits in (positive amounts), credits out (negative amounts, as a positive number), debt change and entry count. */
export const creditDailyTotal = pgTable(
  "credit_daily_total",
  {
    day: date({ mode: "string" }).notNull(),
    entryType: text().notNull(),
    creditsIn: bigint({ mode: "number" }).notNull().default(0),
    creditsOut: bigint({ mode: "number" }).notNull().default(0),
    debtChange: bigint({ mode: "number" }).notNull().default(0),
    entries: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.entryType] })],
);

/** Deltas of credit_daily_total not yet compacted. */
export const creditDailyTotalDelta = pgTable("credit_daily_total_delta", {
  id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  day: date({ mode: "string" }).notNull(),
  entryType: text().notNull(),
  creditsIn: bigint({ mode: "number" }).notNull(),
  creditsOut: bigint({ mode: "number" }).notNull(),
  debtChange: bigint({ mode: "number" }).notNull(),
  entries: bigint({ mode: "number" }).notNull(),
});

/** Credits left in lots, per category (paid / promotional) and lot source: the liability not reserved by holds. */
export const creditOutstanding = pgTable(
  "credit_outstanding",
  {
    category: text().notNull(),
    source: text().notNull(),
    remaining: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.category, t.source] })],
);

/** Deltas of credit_outstanding not yet compacted. */
export const creditOutstandingDelta = pgTable("credit_outstanding_delta", {
  id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  category: text().notNull(),
  source: text().notNull(),
  remaining: bigint({ mode: "number" }).notNull(),
});

/** The sums of the accounts' balance, held and debt columns: one row (`id` 1) once compacted. */
export const creditAccountTotal = pgTable("credit_account_total", {
  id: integer().primaryKey(),
  balance: bigint({ mode: "number" }).notNull().default(0),
  held: bigint({ mode: "number" }).notNull().default(0),
  debt: bigint({ mode: "number" }).notNull().default(0),
});

/** Deltas of credit_account_total not yet compacted. */
export const creditAccountTotalDelta = pgTable("credit_account_total_delta", {
  id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  balance: bigint({ mode: "number" }).notNull(),
  held: bigint({ mode: "number" }).notNull(),
  debt: bigint({ mode: "number" }).notNull(),
});

/**
 * Per UTC day of the purchase's creation, kind (package / subscription_invoice), package or plan id and
 * currency: succeeded purchases, their amount and what was refunded of it (minor units of that currency).
 */
export const purchaseDailyRevenue = pgTable(
  "purchase_daily_revenue",
  {
    day: date({ mode: "string" }).notNull(),
    kind: text().notNull(),
    packageId: text().notNull(),
    currency: text().notNull(),
    purchases: integer().notNull().default(0),
    amount: bigint({ mode: "number" }).notNull().default(0),
    refunded: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.kind, t.packageId, t.currency] })],
);

/** Deltas of purchase_daily_revenue not yet compacted. */
export const purchaseDailyRevenueDelta = pgTable("purchase_daily_revenue_delta", {
  id: bigint({ mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  day: date({ mode: "string" }).notNull(),
  kind: text().notNull(),
  packageId: text().notNull(),
  currency: text().notNull(),
  purchases: integer().notNull(),
  amount: bigint({ mode: "number" }).notNull(),
  refunded: bigint({ mode: "number" }).notNull(),
});

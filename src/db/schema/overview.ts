import { bigint, date, integer, pgTable, primaryKey, smallint, text } from "drizzle-orm/pg-core";

/**
 * The operators' overview reads these instead of the ledger, so a page view costs the same on 1,000 entries
 * as on 10,000,000. They are kept by triggers in the transaction of every ledger write
 * (src/credits/sql/ledger-aggregates.sql): a write that rolls back takes its aggregate change with it, and
 * `verify` recomputes them from the ledger (src/credits/verify-ledger-aggregates.ts).
 *
 * `shard` (0-15, from a hash of the account id) spreads the accounts over sixteen rows per key, so
 * concurrent spends of different accounts rarely wait on the same aggregate row; readers sum the shards.
 */

/** Per UTC day, entry type and shard: credits in (positive amounts), credits out (negative amounts, as a positive number), debt change and entry count. */
export const creditDailyTotal = pgTable(
  "credit_daily_total",
  {
    day: date({ mode: "string" }).notNull(),
    entryType: text().notNull(),
    shard: smallint().notNull(),
    creditsIn: bigint({ mode: "number" }).notNull().default(0),
    creditsOut: bigint({ mode: "number" }).notNull().default(0),
    debtChange: bigint({ mode: "number" }).notNull().default(0),
    entries: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.day, t.entryType, t.shard] })],
);

/** Credits left in lots, per category (paid / promotional), lot source and shard: the liability not reserved by holds. */
export const creditOutstanding = pgTable(
  "credit_outstanding",
  {
    category: text().notNull(),
    source: text().notNull(),
    shard: smallint().notNull(),
    remaining: bigint({ mode: "number" }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.category, t.source, t.shard] })],
);

/** Per shard: the sum of the accounts' balance, held and debt columns. */
export const creditAccountTotal = pgTable("credit_account_total", {
  shard: smallint().primaryKey(),
  balance: bigint({ mode: "number" }).notNull().default(0),
  held: bigint({ mode: "number" }).notNull().default(0),
  debt: bigint({ mode: "number" }).notNull().default(0),
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

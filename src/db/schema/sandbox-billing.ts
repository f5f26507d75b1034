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
 * The offline sandbox's subscriptions, shaped and behaving like Stripe's test mode (src/payment/sandbox/).
 * Each has its own test clock (`clock`): advancing it is how the sandbox renews without waiting a month.
 * Of a card only its test behaviour and last four digits are kept, never a number.
 */
export const sandboxSubscription = pgTable(
  "sandbox_subscription",
  {
    /** `sub_sbx_…` */
    id: text().primaryKey(),
    userId: text().notNull(),
    customerId: text().notNull(),
    /** Our subscription row (also in `metadata.subscriptionId`, as Stripe would carry it). */
    subscriptionRowId: uuid().notNull().unique(),
    planId: text().notNull(),
    priceId: text().notNull(),
    status: text().notNull(),
    billingCycleAnchor: timestamp({ withTimezone: true }).notNull(),
    currentPeriodStart: timestamp({ withTimezone: true }).notNull(),
    currentPeriodEnd: timestamp({ withTimezone: true }).notNull(),
    /** The subscription's test clock: the simulated "now" (never before the real one). */
    clock: timestamp({ withTimezone: true }).notNull(),
    /** How the kept card behaves on a charge: `succeeds`, `declines:<code>`, `charge_fails`, `requires_action`. */
    cardBehavior: text(),
    cardLast4: text(),
    cancelAtPeriodEnd: boolean().notNull().default(false),
    canceledAt: timestamp({ withTimezone: true }),
    endedAt: timestamp({ withTimezone: true }),
    /** A plan change scheduled for the next renewal. */
    pendingPlanId: text(),
    /** Stripe's customer credit balance from prorations, in minor units. */
    creditBalance: integer().notNull().default(0),
    latestInvoiceId: text(),
    metadata: jsonb().$type<Record<string, string>>().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("sandbox_subscription_user_idx").on(t.userId)],
);

/** A Stripe-shaped invoice line, as the sandbox stores and sends it. */
export type SandboxInvoiceLine = {
  id: string;
  amount: number;
  currency: string;
  description: string;
  priceId: string;
  /** The plan of the price (the product the line names). */
  planId: string;
  proration: boolean;
  period: { start: number; end: number };
};

/** The sandbox's invoices: one per subscription period (and, later, per plan change). */
export const sandboxInvoice = pgTable(
  "sandbox_invoice",
  {
    /** `in_sbx_…` */
    id: text().primaryKey(),
    subscriptionId: text().notNull(),
    customerId: text().notNull(),
    billingReason: text().notNull(),
    status: text().notNull(),
    currency: text().notNull(),
    amountDue: integer().notNull(),
    amountPaid: integer().notNull().default(0),
    lines: jsonb().$type<SandboxInvoiceLine[]>().notNull(),
    paymentIntentId: text(),
    attemptCount: integer().notNull().default(0),
    /** When the invoice was made, in the subscription's simulated time (Unix seconds, as Stripe's `created`). */
    created: bigint({ mode: "number" }).notNull(),
    finalizedAt: timestamp({ withTimezone: true }),
    paidAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    check(
      "sandbox_invoice_status_known",
      sql`${t.status} IN ('draft', 'open', 'paid', 'uncollectible', 'void')`,
    ),
    index("sandbox_invoice_subscription_idx").on(t.subscriptionId),
  ],
);

import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { user } from "./auth";
import { creditPurchase } from "./credits";

/**
 * The payment provider's customer of a user: one per user and provider, made once and reused for every
 * subscription (and, later, package purchases), so the customer's card and invoices stay in one place.
 */
export const paymentCustomer = pgTable(
  "payment_customer",
  {
    userId: text()
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    provider: text().notNull(),
    customerId: text().notNull().unique(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.provider] })],
);

/**
 * The provider's prices of the plans. Invoices name prices, not plans: a webhook maps each line's price
 * back to a plan through this table (an unknown price is refused, never guessed). A price is fixed once
 * made, so a plan whose amount changes gets a new price (the lookup key carries the amount).
 */
export const planPrice = pgTable(
  "plan_price",
  {
    priceId: text().primaryKey(),
    provider: text().notNull(),
    planId: text().notNull(),
    amount: integer().notNull(),
    currency: text().notNull(),
    interval: text().notNull(),
    /** `creditkit:<planId>:<amount>:<currency>`. */
    lookupKey: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("plan_price_lookup_key").on(t.provider, t.lookupKey),
    check("plan_price_interval_known", sql`${t.interval} IN ('month', 'year')`),
  ],
);

/** Subscription states: Stripe's, plus `checkout` (started, nothing heard yet) and `abandoned`. */
export const SUBSCRIPTION_STATUSES = [
  "checkout",
  "abandoned",
  "incomplete",
  "incomplete_expired",
  "trialing",
  "active",
  "past_due",
  "unpaid",
  "paused",
  "canceled",
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** States in which a user has a subscription (or one under way): a second may not be started. */
export const LIVE_SUBSCRIPTION_STATUSES = [
  "checkout",
  "incomplete",
  "trialing",
  "active",
  "past_due",
  "unpaid",
  "paused",
] as const satisfies readonly SubscriptionStatus[];

const quoted = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(", "));

/**
 * A user's subscription as this app knows it: our id (in the provider's metadata as `subscriptionId`),
 * the provider's ids, and the newest state a provider event or fetch reported. `state_at` is the provider
 * time of that state (the event's `created`): an older event never overwrites a newer state.
 * Credits are never granted from this row's status: only a paid invoice grants (invoice-paid.ts).
 */
export const subscription = pgTable(
  "subscription",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    provider: text().notNull(),
    providerSubscriptionId: text().unique(),
    customerId: text(),
    checkoutSessionId: text().unique(),
    planId: text().notNull(),
    status: text().notNull().default("checkout"),
    currentPeriodStart: timestamp({ withTimezone: true }),
    currentPeriodEnd: timestamp({ withTimezone: true }),
    billingCycleAnchor: timestamp({ withTimezone: true }),
    cancelAtPeriodEnd: boolean().notNull().default(false),
    cancelAt: timestamp({ withTimezone: true }),
    canceledAt: timestamp({ withTimezone: true }),
    endedAt: timestamp({ withTimezone: true }),
    /** The plan a change takes at the end of the period (a downgrade), when one is scheduled. */
    scheduledPlanId: text(),
    /** The trial offered at checkout, in days; the $0 first invoice of such a subscription grants the trial. */
    trialOfferedDays: integer(),
    /** A renewal that failed or needs the customer: shown in the app until a paid invoice lifts it. */
    paymentProblem: text(),
    paymentProblemInvoiceId: text(),
    paymentProblemAt: timestamp({ withTimezone: true }),
    paymentActionUrl: text(),
    /** Why an event could not be trusted for this row (a customer that is not the user's, say). */
    flaggedReason: text(),
    /**
     * Set when the row was made from the provider's events for a subscription started outside the app (a
     * Stripe Dashboard or API subscription of a customer the app made, on a price of ours):
     * adopt-external-subscription.ts. Null for subscriptions started here.
     */
    adoptedAt: timestamp({ withTimezone: true }),
    stateAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("subscription_status_known", sql`${t.status} IN (${quoted(SUBSCRIPTION_STATUSES)})`),
    check(
      "subscription_payment_problem_known",
      sql`${t.paymentProblem} IS NULL OR ${t.paymentProblem} IN ('payment_failed', 'action_required')`,
    ),
    index("subscription_user_idx").on(t.userId, t.createdAt),
    // "Has this user a subscription?" is asked on every subscribe and every credits page.
    index("subscription_user_live_idx")
      .on(t.userId)
      .where(sql`${t.status} IN (${quoted(LIVE_SUBSCRIPTION_STATUSES)})`),
  ],
);

/**
 * One credit period granted (or found already over) for a paid invoice. The primary key is the cause:
 * the invoice, the kind of grant and the period's start. A redelivered, reordered or concurrent
 * `invoice.paid` inserts the same key and finds it taken, so a period is granted once whatever arrives;
 * the ledger entry's own key (`subscription-period:<invoice>:<start>`) is the second lock on the door.
 * Written in the same transaction as the ledger entry and the webhook event's id.
 */
export const subscriptionPeriodGrant = pgTable(
  "subscription_period_grant",
  {
    invoiceId: text().notNull(),
    /**
     * `period`: a base line of a monthly plan; `slot`: one of the twelve monthly slots of a yearly plan's
     * line; `proration`: an upgrade's lines; `trial`: a trial's $0 invoice.
     */
    kind: text().notNull(),
    periodStart: timestamp({ withTimezone: true }).notNull(),
    periodEnd: timestamp({ withTimezone: true }).notNull(),
    subscriptionId: uuid()
      .notNull()
      .references(() => subscription.id, { onDelete: "cascade" }),
    userId: text().notNull(),
    purchaseId: uuid().references(() => creditPurchase.id),
    planId: text().notNull(),
    credits: integer().notNull(),
    /**
     * `granted` (entry and lot written), `period_over` (paid after the period ended: nothing to grant),
     * `scheduled` (a yearly slot not yet due: the `subscription-credits` job grants it when its period
     * starts) or `stopped` (a scheduled slot that will never be granted: the subscription ended or the
     * year was refunded or disputed).
     */
    status: text().notNull(),
    /** A yearly slot's place in its year (0–11); null for other kinds. */
    slotIndex: integer(),
    /**
     * When the row's lot expires, set only for a period granted after it ended (a monthly renewal retried
     * and paid late, a yearly slot whose month had passed when its year was paid, or a yearly slot the
     * `subscription-credits` job reached only after its month ended): its credits live until the end of
     * the billing period (or slot) in force when the money arrived or the job ran (late-period-expiry.ts),
     * not until `period_end`, which had passed. Null: the lot ends with the period.
     */
    lotExpiresAt: timestamp({ withTimezone: true }),
    entryId: bigint({ mode: "number" }),
    lotId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.invoiceId, t.kind, t.periodStart] }),
    check("subscription_period_grant_kind_known", sql`${t.kind} IN ('period', 'slot', 'proration', 'trial')`),
    check(
      "subscription_period_grant_status_known",
      sql`${t.status} IN ('granted', 'period_over', 'scheduled', 'stopped')`,
    ),
    check("subscription_period_grant_credits_non_negative", sql`${t.credits} >= 0`),
    // A late period's lot outlives the period it paid for, and only a base period (a monthly line, or a
    // yearly line's monthly slot) is granted late.
    check(
      "subscription_period_grant_late_expiry",
      sql`${t.lotExpiresAt} IS NULL OR (${t.kind} IN ('period', 'slot') AND ${t.lotExpiresAt} > ${t.periodEnd})`,
    ),
    check("subscription_period_grant_period_ordered", sql`${t.periodStart} < ${t.periodEnd}`),
    index("subscription_period_grant_subscription_idx").on(t.subscriptionId, t.periodEnd),
    // The `subscription-credits` job looks for slots that have come due: it scans only scheduled ones.
    index("subscription_period_grant_scheduled_idx").on(t.periodStart).where(sql`${t.status} = 'scheduled'`),
    // A trial is once per user ever: a second trial invoice of the same user (another subscription, a
    // replay, a concurrent delivery) finds this key taken and grants nothing (grant-trial-credits.ts).
    uniqueIndex("subscription_period_grant_one_trial_per_user").on(t.userId).where(sql`${t.kind} = 'trial'`),
  ],
);

/**
 * One period of the Free plan granted to a user: periods are months anchored on the user's sign-up day
 * (clamped to month ends, src/credits/credit-periods.ts), granted by the `subscription-credits` job while
 * the user has no paid subscription. Keyed by the user and the period's start, so running the job twice,
 * restarting it mid-run or running it on three instances grants each period once.
 */
export const freePlanGrant = pgTable(
  "free_plan_grant",
  {
    userId: text()
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    periodStart: timestamp({ withTimezone: true }).notNull(),
    periodEnd: timestamp({ withTimezone: true }).notNull(),
    credits: integer().notNull(),
    entryId: bigint({ mode: "number" }),
    lotId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.periodStart] }),
    check("free_plan_grant_credits_positive", sql`${t.credits} > 0`),
    check("free_plan_grant_period_ordered", sql`${t.periodStart} < ${t.periodEnd}`),
    index("free_plan_grant_user_end_idx").on(t.userId, t.periodEnd),
  ],
);

/**
 * The carry of one capped rollover: the unspent credits of a subscription's period that expired, up to the
 * ending plan's cap, granted once into the next period as a lot of their own that ends with that period.
 * Keyed by the cause (the subscription and the start of the period carried into), so however often the
 * next period's invoice or the job comes round, the carry is granted once. `pending` while the ending
 * period's credits have not all expired or been spent (the job grants it then); `nothing` when nothing is
 * left to carry, or the period carried into is over.
 */
export const subscriptionRollover = pgTable(
  "subscription_rollover",
  {
    subscriptionId: uuid()
      .notNull()
      .references(() => subscription.id, { onDelete: "cascade" }),
    intoStart: timestamp({ withTimezone: true }).notNull(),
    intoEnd: timestamp({ withTimezone: true }).notNull(),
    userId: text().notNull(),
    /** The plan of the period that ended: its cap applies. */
    planId: text().notNull(),
    cap: integer().notNull(),
    credits: integer(),
    status: text().notNull(),
    entryId: bigint({ mode: "number" }),
    lotId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    settledAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.subscriptionId, t.intoStart] }),
    check("subscription_rollover_status_known", sql`${t.status} IN ('pending', 'granted', 'nothing')`),
    check(
      "subscription_rollover_credits_in_cap",
      sql`${t.credits} IS NULL OR (${t.credits} >= 0 AND ${t.credits} <= ${t.cap})`,
    ),
    index("subscription_rollover_pending_idx").on(t.intoStart).where(sql`${t.status} = 'pending'`),
  ],
);

/**
 * Whose money a carry's credits were bought with: a period's own credits may come from several invoices (its
 * base invoice and an upgrade's proration invoice), while its carry is one `rollover` lot. Each row says how
 * many of the carry's credits came from one purchase's own unspent credits (roll-into-period.ts), so a
 * refund or dispute of either invoice after the carry takes back its own share from the carry lot and
 * counts no more of it as expired (purchase-credit-lots.ts). Written with the carry, in its transaction.
 * Carries made before this table existed have no rows: their lot names one purchase (`credit_lot.purchase_id`).
 */
export const subscriptionRolloverShare = pgTable(
  "subscription_rollover_share",
  {
    subscriptionId: uuid().notNull(),
    intoStart: timestamp({ withTimezone: true }).notNull(),
    purchaseId: uuid()
      .notNull()
      .references(() => creditPurchase.id, { onDelete: "cascade" }),
    /** The carry's lot. */
    lotId: uuid().notNull(),
    credits: integer().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.subscriptionId, t.intoStart, t.purchaseId] }),
    check("subscription_rollover_share_credits_positive", sql`${t.credits} > 0`),
    index("subscription_rollover_share_purchase_idx").on(t.purchaseId),
  ],
);

/**
 * Money a later invoice credited back against a paid invoice: one proration line that credits unused time
 * (a negative line of a plan change: Pro → Max, or monthly → yearly, whose credit for the unused month is
 * taken off the yearly invoice). The credited invoice's money was in part handed back already, as a credit
 * on the later invoice, so an admin refund of it may not give that part back a second time
 * (refund-purchase.ts subtracts the sum of `amount` by `credited_invoice_id`).
 *
 * Keyed by the cause (the crediting invoice and its line), written in the `invoice.paid` transaction of the
 * crediting invoice together with its grants, so a repeated, reordered or concurrent delivery records it once.
 * `amount` is positive, in the invoice currency's minor units. No foreign key to credit_purchase: the
 * credited invoice's own `invoice.paid` may arrive later, and the row is found by the invoice id.
 */
export const invoiceProrationCredit = pgTable(
  "invoice_proration_credit",
  {
    creditingInvoiceId: text().notNull(),
    lineId: text().notNull(),
    creditedInvoiceId: text().notNull(),
    subscriptionId: uuid()
      .notNull()
      .references(() => subscription.id, { onDelete: "cascade" }),
    amount: integer().notNull(),
    currency: text().notNull(),
    /** `line`: named by the line (`proration_details.credited_items`); `period`: found by the period it credits. */
    source: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.creditingInvoiceId, t.lineId] }),
    check("invoice_proration_credit_amount_positive", sql`${t.amount} > 0`),
    check("invoice_proration_credit_source_known", sql`${t.source} IN ('line', 'period')`),
    index("invoice_proration_credit_credited_idx").on(t.creditedInvoiceId),
  ],
);

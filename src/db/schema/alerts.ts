import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { creditAccount } from "./credits";

/**
 * The plans' monthly credits, as the database sees them: a copy of the catalog (src/catalog/plans.ts),
 * written again on every start and before every percentage threshold is saved
 * (src/alerts/sync-plan-allocations.ts), so a spend's transaction can resolve a percentage threshold
 * against the plan in force without leaving SQL. `isFree`: the plan of a user with no subscription.
 */
export const planAllocation = pgTable(
  "plan_allocation",
  {
    planId: text().primaryKey(),
    creditsPerMonth: integer().notNull(),
    isFree: boolean().notNull().default(false),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check("plan_allocation_credits_positive", sql`${t.creditsPerMonth} > 0`)],
);

/**
 * The email outbox: one row per email to send, written in the transaction that decided it (a low-balance
 * crossing writes its row from the trigger in src/alerts/sql/low-balance-alerts.sql), so an email exists
 * exactly when its cause committed, and a crash after the commit loses nothing. A worker leases due rows
 * (`leasedUntil`, SKIP LOCKED), sends them and marks them `sent` (or `logged` when no SMTP is configured),
 * retrying with backoff until `giveUpAt` (then `failed`). `skipped`: the account has no address.
 * Settled rows are deleted EMAIL_OUTBOX_RETENTION_DAYS after they settled (src/email/prune-email-outbox.ts).
 */
export const emailOutbox = pgTable(
  "email_outbox",
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: text()
      .notNull()
      .references(() => creditAccount.userId, { onDelete: "cascade" }),
    /** Which template: `low_balance`, `auto_top_up_action_required`, `auto_top_up_failed`. */
    kind: text().notNull(),
    locale: text().notNull().default("en"),
    /** What the template needs (credits: `available`, `threshold`; `percent` when set as one). */
    payload: jsonb().$type<Record<string, unknown>>().notNull(),
    status: text().notNull().default("pending"),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    leasedUntil: timestamp({ withTimezone: true }),
    giveUpAt: timestamp({ withTimezone: true }).notNull().default(sql`now() + interval '1 day'`),
    lastError: text(),
    /** The Message-ID the SMTP server accepted (stable per row: `<row id@creditkit>`). */
    messageId: text(),
    sentAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      "email_outbox_status_known",
      sql`${t.status} IN ('pending', 'sent', 'logged', 'skipped', 'failed')`,
    ),
    check(
      "email_outbox_kind_known",
      sql`${t.kind} IN ('low_balance', 'auto_top_up_action_required', 'auto_top_up_failed')`,
    ),
    // The worker's look-up: pending rows by due time, never the (growing) sent ones.
    index("email_outbox_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index("email_outbox_user_idx").on(t.userId, t.createdAt),
    // The retention job's look-up (src/email/prune-email-outbox.ts): settled rows, oldest first, by the
    // moment they settled (sent_at; give_up_at for a row given up), never a pending one.
    index("email_outbox_settled_idx")
      .on(sql`coalesce(${t.sentAt}, ${t.giveUpAt})`)
      .where(sql`${t.status} IN ('sent', 'logged', 'skipped', 'failed')`),
  ],
);

import { type SQL, sql } from "drizzle-orm";
import { publicUrl } from "@/config/env";
import { sqlRows } from "@/credits/sql-rows";
import type { Database } from "@/db/types";
import { type AppLocale, routing } from "@/i18n/routing";
import { logger } from "@/lib/logger";
import { isMailConfigured, sendEmail } from "./mailer";
import { autoTopUpMessage } from "./templates/auto-top-up";
import { lowBalanceMessage } from "./templates/low-balance";

/**
 * Seconds to wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour apart. With the
 * one-day limit of a row (`give_up_at`) that is about thirty attempts; then the row is `failed`.
 */
export function emailRetryDelaySeconds(attempts: number): number {
  return Math.min(30 * 2 ** Math.max(attempts - 1, 0), 3600);
}

/**
 * How long a worker keeps a row it took: beyond nodemailer's own timeouts (src/email/mailer.ts, 35 s in
 * all), so a live worker is never overtaken, while a worker that died gives the row up when it ends.
 */
export const EMAIL_LEASE_SECONDS = 60;

export type ClaimedEmail = {
  id: string;
  userId: string;
  kind: "low_balance" | "auto_top_up_action_required" | "auto_top_up_failed";
  locale: string;
  payload: Record<string, unknown>;
  attempts: number;
  email: string | null;
  name: string | null;
};

export type EmailPassOptions = {
  /** The moment the pass acts at (tests jump over backoff and leases with it); the database's clock otherwise. */
  now?: Date;
  /** Most rows taken in one pass. */
  limit?: number;
};

export type EmailPassResult = { sent: number; retrying: number; failed: number; skipped: number };

function atTime(now: Date | undefined): SQL {
  return now ? sql`${now.toISOString()}::timestamptz` : sql`now()`;
}

/**
 * Takes the rows due now and leases them to this worker, counting the attempt, in one statement: rows
 * whose next attempt is due and whose lease (if any) has run out. FOR UPDATE SKIP LOCKED: workers on
 * several instances take disjoint rows and never wait on each other, so two never send the same row at once.
 * Exported for the tests that play a worker dying between taking a row and sending it.
 */
export async function claimDueEmails(db: Database, options: EmailPassOptions = {}): Promise<ClaimedEmail[]> {
  const now = atTime(options.now);
  const result = await db.execute(sql`
    WITH due AS (
      SELECT o.id FROM email_outbox o
      WHERE o.status = 'pending' AND o.next_attempt_at <= ${now}
        AND (o.leased_until IS NULL OR o.leased_until <= ${now})
      ORDER BY o.next_attempt_at
      LIMIT ${options.limit ?? 50}
      FOR UPDATE SKIP LOCKED
    ), leased AS (
      UPDATE email_outbox o
      SET leased_until = ${now} + make_interval(secs => ${EMAIL_LEASE_SECONDS}), attempts = o.attempts + 1
      FROM due WHERE o.id = due.id
      RETURNING o.id, o.user_id, o.kind, o.locale, o.payload, o.attempts
    )
    SELECT l.id, l.user_id AS "userId", l.kind, l.locale, l.payload, l.attempts,
           coalesce(u.email, a.email) AS email, coalesce(u.name, a.name) AS name
    FROM leased l
    JOIN credit_account a ON a.user_id = l.user_id
    LEFT JOIN "user" u ON u.id = a.owner_user_id`);
  return sqlRows<ClaimedEmail>(result);
}

/** Settles a row this worker holds: only a pending row changes (never one settled meanwhile). */
async function settle(
  db: Database,
  row: ClaimedEmail,
  outcome: { status: "sent" | "logged" | "skipped"; messageId?: string } | { status: "retry"; error: string },
  now: Date | undefined,
): Promise<"sent" | "logged" | "skipped" | "pending" | "failed"> {
  const at = atTime(now);
  if (outcome.status !== "retry") {
    await db.execute(sql`
      UPDATE email_outbox SET status = ${outcome.status}, sent_at = ${at}, message_id = ${outcome.messageId ?? null},
        leased_until = NULL, last_error = NULL
      WHERE id = ${row.id} AND status = 'pending'`);
    return outcome.status;
  }
  const [settled] = sqlRows<{ status: "pending" | "failed" }>(
    await db.execute(sql`
      UPDATE email_outbox SET
        status = CASE WHEN ${at} >= give_up_at THEN 'failed' ELSE 'pending' END,
        next_attempt_at = least(${at} + make_interval(secs => ${emailRetryDelaySeconds(row.attempts)}), give_up_at),
        leased_until = NULL, last_error = ${outcome.error.slice(0, 1000)}
      WHERE id = ${row.id} AND status = 'pending'
      RETURNING status`),
  );
  return settled?.status ?? "pending";
}

function localeOf(value: string): AppLocale {
  return (routing.locales as readonly string[]).includes(value)
    ? (value as AppLocale)
    : routing.defaultLocale;
}

/** The message of one row, from its kind's template and the payload its trigger (or use case) wrote. */
function messageOf(row: ClaimedEmail) {
  const locale = localeOf(row.locale);
  if (row.kind === "auto_top_up_action_required" || row.kind === "auto_top_up_failed") {
    const payload = row.payload as {
      attemptId: string;
      amount: number;
      currency: string;
      last4: string | null;
      declineCode?: string | null;
      disabled?: boolean;
    };
    return autoTopUpMessage({
      kind: row.kind,
      name: row.name ?? "",
      locale,
      amount: Number(payload.amount),
      currency: String(payload.currency),
      last4: payload.last4 ?? null,
      declineCode: payload.declineCode ?? null,
      disabled: payload.disabled === true,
      creditsUrl: `${publicUrl()}/${locale}/settings/credits?autoTopUp=${encodeURIComponent(payload.attemptId)}`,
    });
  }
  const payload = row.payload as { available: number; threshold: number; percent: number | null };
  return lowBalanceMessage({
    name: row.name ?? "",
    locale,
    available: Number(payload.available),
    threshold: Number(payload.threshold),
    percent: payload.percent === null || payload.percent === undefined ? null : Number(payload.percent),
    creditsUrl: `${publicUrl()}/${locale}/settings/credits`,
  });
}

/**
 * One pass of the email worker: takes the due rows of the email outbox, sends each through SMTP
 * (nodemailer) with a Message-ID made from the row's id, and records the outcome. Accepted by the server →
 * `sent`, never sent again; refused or unreachable → retried with backoff (emailRetryDelaySeconds) until
 * the row's day is up. No SMTP configured → the message goes to the server log (`logged`), as the app's
 * other emails do. No address on the account → `skipped`. Delivery is at least once: a worker that dies
 * after the server accepted a message and before recording it sends it again when its lease ends (the same
 * Message-ID, which mail systems use to drop duplicates). Errors of the database are thrown to the job.
 */
export async function deliverDueEmails(
  db: Database,
  options: EmailPassOptions = {},
): Promise<EmailPassResult> {
  const claimed = await claimDueEmails(db, options);
  const tally: EmailPassResult = { sent: 0, retrying: 0, failed: 0, skipped: 0 };
  for (const row of claimed) {
    let status: Awaited<ReturnType<typeof settle>>;
    if (!row.email) {
      status = await settle(db, row, { status: "skipped" }, options.now);
    } else if (!isMailConfigured()) {
      const message = messageOf(row);
      logger.warn(
        { userId: row.userId, emailId: row.id, to: row.email, subject: message.subject, text: message.text },
        `${row.kind} email (no SMTP configured, so it is logged, not sent)`,
      );
      status = await settle(db, row, { status: "logged" }, options.now);
    } else {
      try {
        const { messageId } = await sendEmail({
          to: row.email,
          ...messageOf(row),
          messageId: `<${row.id}@creditkit.alerts>`,
        });
        status = await settle(db, row, { status: "sent", messageId }, options.now);
        logger.info({ userId: row.userId, emailId: row.id, kind: row.kind, messageId }, "email sent");
      } catch (error) {
        status = await settle(db, row, { status: "retry", error: (error as Error).message }, options.now);
        logger.warn(
          { err: error, userId: row.userId, emailId: row.id, attempts: row.attempts, status },
          "email could not be sent",
        );
      }
    }
    if (status === "pending") tally.retrying++;
    else if (status === "failed") tally.failed++;
    else if (status === "skipped") tally.skipped++;
    else tally.sent++;
  }
  return tally;
}

/** Passes until nothing is due (at most `maxPasses`): what the scheduled job runs. */
export async function runEmailDelivery(
  db: Database,
  options: EmailPassOptions & { maxPasses?: number; shouldStop?: () => boolean } = {},
): Promise<EmailPassResult> {
  const total: EmailPassResult = { sent: 0, retrying: 0, failed: 0, skipped: 0 };
  for (let pass = 0; pass < (options.maxPasses ?? 20); pass++) {
    if (options.shouldStop?.()) break;
    const result = await deliverDueEmails(db, options);
    total.sent += result.sent;
    total.retrying += result.retrying;
    total.failed += result.failed;
    total.skipped += result.skipped;
    if (result.sent + result.retrying + result.failed + result.skipped === 0) break;
  }
  return total;
}

import { sql } from "drizzle-orm";
import { type CreditPackage, listPackagesOnSale } from "@/catalog/packages";
import { sqlRows } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";
import type { AutoTopUpAttemptView, AutoTopUpView } from "./schemas";

/** How many recent attempts the page lists. */
const RECENT_ATTEMPTS = 5;

type SettingRow = {
  enabled: boolean;
  package_id: string;
  package_amount: number;
  currency: string;
  threshold_credits: number;
  monthly_cap_amount: number;
  payment_method_id: string | null;
  card_brand: string | null;
  card_last4: string | null;
  consecutive_failures: number;
  disabled_reason: string | null;
  cap_reached_this_month: boolean;
  spent: string | number;
};

type AttemptRow = {
  id: string;
  status: AutoTopUpAttemptView["status"];
  package_id: string;
  amount: number;
  currency: string;
  failure_code: string | null;
  failure_message: string | null;
  payment_intent_id: string | null;
  purchase_id: string | null;
  client_secret: string | null;
  created_at: string | Date;
  finished_at: string | Date | null;
  waiting_for_provider: boolean;
};

const iso = (value: string | Date) => new Date(value).toISOString();

/**
 * What the page proposes before anything is saved: the popular package (else the first on sale), a
 * threshold of a fifth of its credits, and a cap of two top-ups a month.
 */
export function defaultAutoTopUpSetting(packages?: readonly CreditPackage[]) {
  const onSale = listPackagesOnSale(packages);
  const pkg = onSale.find((candidate) => candidate.popular) ?? onSale[0];
  if (!pkg) throw new Error("the catalog has no package on sale");
  return {
    packageId: pkg.id,
    packageAmount: pkg.price.amount,
    currency: pkg.price.currency,
    thresholdCredits: Math.max(1, Math.floor(pkg.credits / 5)),
    monthlyCapAmount: pkg.price.amount * 2,
  };
}

/**
 * The signed-in user's auto top-up as the credits page shows it (AutoTopUpView): the setting, the saved
 * card (brand and last four digits only), this calendar month's (UTC) top-ups against the cap (succeeded
 * and still under way, as the trigger counts them), the recent attempts and one status for the banner.
 */
export async function getAutoTopUp(db: DatabaseOrTransaction, userId: string): Promise<AutoTopUpView> {
  const [setting] = sqlRows<SettingRow>(
    await db.execute(sql`
      SELECT s.enabled, s.package_id, s.package_amount, s.currency, s.threshold_credits, s.monthly_cap_amount,
             s.payment_method_id, s.card_brand, s.card_last4, s.consecutive_failures, s.disabled_reason,
             coalesce(s.cap_reached_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', false)
               AS cap_reached_this_month,
             (SELECT coalesce(sum(a.amount), 0) FROM auto_top_up_attempt a
              WHERE a.user_id = s.user_id AND a.currency = s.currency
                AND a.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                AND a.status IN ('pending', 'processing', 'requires_action', 'succeeded')) AS spent
      FROM auto_top_up s WHERE s.user_id = ${userId}`),
  );
  const attempts = sqlRows<AttemptRow>(
    await db.execute(sql`
      SELECT id, status, package_id, amount, currency, failure_code, failure_message, payment_intent_id,
             purchase_id, client_secret, created_at, finished_at,
             -- In flight after a try without an answer: waiting for the payment provider to answer (retried
             -- with backoff, run-auto-top-ups.ts), never given up while the charge may have been made.
             (status = 'processing' AND (tries > 1 OR leased_until IS NULL)) AS waiting_for_provider
      FROM auto_top_up_attempt WHERE user_id = ${userId}
      ORDER BY created_at DESC, id DESC LIMIT ${RECENT_ATTEMPTS}`),
  );
  const views: AutoTopUpAttemptView[] = attempts.map((row) => ({
    id: row.id,
    status: row.status,
    packageId: row.package_id,
    amount: row.amount,
    currency: row.currency,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    createdAt: iso(row.created_at),
    finishedAt: row.finished_at ? iso(row.finished_at) : null,
  }));
  // Only one attempt can be in flight (the partial unique index), so the newest is the one to act on.
  const waiting = attempts.find((row) => row.status === "requires_action");
  const action =
    waiting?.payment_intent_id && waiting.client_secret && waiting.purchase_id
      ? {
          attemptId: waiting.id,
          purchaseId: waiting.purchase_id,
          paymentIntentId: waiting.payment_intent_id,
          clientSecret: waiting.client_secret,
        }
      : null;
  if (!setting) {
    const fallback = defaultAutoTopUpSetting();
    return {
      enabled: false,
      configured: false,
      packageId: fallback.packageId,
      thresholdCredits: fallback.thresholdCredits,
      monthlyCapAmount: fallback.monthlyCapAmount,
      currency: fallback.currency,
      card: null,
      month: { spent: 0, cap: fallback.monthlyCapAmount },
      consecutiveFailures: 0,
      disabledReason: null,
      status: "off",
      action: null,
      attempts: views,
    };
  }
  const lastFinished = attempts.find((row) => row.finished_at !== null);
  const status: AutoTopUpView["status"] = action
    ? "action_required"
    : setting.disabled_reason
      ? "disabled"
      : !setting.enabled
        ? "off"
        : lastFinished?.status === "failed" && setting.consecutive_failures > 0
          ? "failed"
          : attempts.some((row) => row.waiting_for_provider)
            ? "waiting_for_provider"
            : // Reached only while no package fits any more: a limit raised since (or a cheaper package)
              // leaves room for the next crossing, and the banner goes.
              setting.cap_reached_this_month &&
                Number(setting.spent) + setting.package_amount > setting.monthly_cap_amount
              ? "cap_reached"
              : "ok";
  return {
    enabled: setting.enabled,
    configured: true,
    packageId: setting.package_id,
    thresholdCredits: setting.threshold_credits,
    monthlyCapAmount: setting.monthly_cap_amount,
    currency: setting.currency,
    card:
      setting.payment_method_id && setting.card_last4
        ? { brand: setting.card_brand ?? "card", last4: setting.card_last4 }
        : null,
    month: { spent: Number(setting.spent), cap: setting.monthly_cap_amount },
    consecutiveFailures: setting.consecutive_failures,
    disabledReason: setting.disabled_reason,
    status,
    action,
    attempts: views,
  };
}

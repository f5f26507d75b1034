import { sql } from "drizzle-orm";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { applySucceededPaymentIntent } from "./reconcile-payments";
import type { PaymentProvider } from "./types";

/** A pay dialog left open this long is taken as abandoned. */
export const ABANDON_AFTER_HOURS = 24;

export type AbandonReport = {
  abandoned: number;
  purchaseIds: string[];
  /** Canceling found the payment had gone through: granted instead (see applySucceededPaymentIntent). */
  paid: number;
  /** The provider could not be asked; the purchase stays abandoned and reconciliation cancels it later. */
  cancelFailed: number;
};

/**
 * Marks purchases still `pending` a day after they started as `abandoned` (and those `failed`: a declined
 * card leaves the pay dialog, and its PaymentIntent, open for another card, so it can take a payment
 * exactly like one never tried, and would otherwise never be canceled nor checked by reconciliation once
 * it is older than reconciliation's window), so lists and reports stop
 * showing pay dialogs nobody finished as payments in progress, and cancels their PaymentIntents at the
 * provider (reason `abandoned`), so a dialog left open in some tab can no longer take money for a purchase
 * the app has given up on. If the cancel finds the PaymentIntent already succeeded (the customer paid and
 * the webhook has not arrived), the purchase is granted through the webhook's own handler, idempotently,
 * instead. A cancel that cannot reach the provider is retried by reconciliation, which checks abandoned
 * purchases too (src/payment/reconcile-payments.ts). Judged by the database's clock, so instances with
 * skewed clocks agree. Only packages: a subscription invoice's purchase is pending only when a refund or
 * dispute of it came before its `invoice.paid` (purchase-of-payment.ts); its PaymentIntent has been paid,
 * and the late `invoice.paid` (Stripe retries for days) must still find it to settle the clawback.
 */
export async function abandonStalePurchases(db: Database, provider: PaymentProvider): Promise<AbandonReport> {
  const result = (await db.execute(sql`
    UPDATE credit_purchase SET status = 'abandoned', updated_at = now()
    WHERE status IN ('pending', 'failed')
      AND kind = 'package'
      AND created_at < now() - make_interval(hours => ${ABANDON_AFTER_HOURS})
    RETURNING id, payment_intent_id, provider`)) as unknown as {
    rows: { id: string; payment_intent_id: string | null; provider: string }[];
  };
  const report: AbandonReport = {
    abandoned: result.rows.length,
    purchaseIds: result.rows.map((row) => row.id),
    paid: 0,
    cancelFailed: 0,
  };
  for (const row of result.rows) {
    if (!row.payment_intent_id || row.provider !== provider.name) continue;
    try {
      const intent = await provider.cancelPaymentIntent(row.payment_intent_id);
      if (intent.status === "succeeded") {
        const outcome = await applySucceededPaymentIntent(db, intent);
        if (outcome.startsWith("granted") || outcome.startsWith("already_granted")) report.paid++;
      }
    } catch (error) {
      report.cancelFailed++;
      logger.error(
        { err: error, purchaseId: row.id, paymentIntentId: row.payment_intent_id },
        "abandoning a purchase: its PaymentIntent could not be canceled; reconciliation retries",
      );
    }
  }
  if (report.abandoned > 0) {
    logger.info(
      { abandoned: report.abandoned, paid: report.paid, cancelFailed: report.cancelFailed },
      "purchases pending for a day marked abandoned and their PaymentIntents canceled",
    );
  }
  return report;
}

import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { sqlRows } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { autoTopUpMetadataSchema, type OffSessionCharge, offSessionOutcome } from "@/payment/types";
import { syncAccountThreshold } from "./save-auto-top-up";

/** Declined top-ups in a row after which auto top-up turns itself off (the rule). */
export const MAX_CONSECUTIVE_FAILURES = 3;

/**
 * The failure code of an attempt given up because the provider could not be reached and made no charge:
 * an outage, not a decline, so it neither counts towards MAX_CONSECUTIVE_FAILURES nor emails the user.
 */
export const PROVIDER_UNAVAILABLE = "provider_unavailable";

export type AttemptOutcome =
  | { status: "succeeded" | "processing"; paymentIntentId: string; clientSecret?: string | null }
  | {
      status: "requires_action";
      paymentIntentId: string;
      clientSecret?: string | null;
      error?: OffSessionCharge["error"];
    }
  | { status: "failed"; paymentIntentId?: string | null; error: NonNullable<OffSessionCharge["error"]> }
  | { status: "canceled"; paymentIntentId?: string | null; reason: string };

/**
 * Which moves an attempt may make, so that every report (the worker's answer from the provider, the
 * webhook's events, in any order and any number of times) settles it once:
 * - from `pending`/`processing` to anything;
 * - from `requires_action` only to `succeeded` (the cardholder completed it) or `canceled` (it expired):
 *   a decline while the cardholder is on the page is theirs to retry there, not an auto top-up failure;
 * - from `failed` or `canceled` only to `succeeded`: the payment's own event is the final fact (a charge
 *   the worker gave up on that went through after all); the credits come from that event anyway;
 * - never out of `succeeded`.
 */
function allowed(from: string, to: AttemptOutcome["status"]): boolean {
  if (from === to) return false;
  if (from === "pending" || from === "processing") return true;
  if (from === "requires_action") return to === "succeeded" || to === "canceled";
  if (from === "failed" || from === "canceled") return to === "succeeded";
  return false;
}

type LockedAttempt = {
  id: string;
  user_id: string;
  status: string;
  package_id: string;
  amount: number;
  currency: string;
  payment_intent_id: string | null;
};

/**
 * Settles one attempt with an outcome, once (see `allowed`), in the caller's transaction, writing what
 * follows from it in the same transaction: `succeeded` resets the failure count; `requires_action` queues
 * one email with a link to the credits page, where the cardholder completes the payment; `failed` counts a
 * failure, queues one email (the page shows a banner), and the third in a row turns auto top-up off
 * (`disabled_reason = three_failures`, said in that email). Reporting the same outcome again only fills in
 * the PaymentIntent's id and client secret if they were missing. Locks the account row first, then the
 * attempt, then the setting: the order a spend's trigger takes them in. Returns the status the attempt has.
 */
export async function settleAttempt(
  tx: DatabaseOrTransaction,
  attemptId: string,
  outcome: AttemptOutcome,
): Promise<string | undefined> {
  const [owner] = sqlRows<{ user_id: string }>(
    await tx.execute(sql`SELECT user_id FROM auto_top_up_attempt WHERE id = ${attemptId}`),
  );
  if (!owner) return undefined;
  await tx.execute(sql`SELECT 1 FROM credit_account WHERE user_id = ${owner.user_id} FOR UPDATE`);
  const [attempt] = sqlRows<LockedAttempt>(
    await tx.execute(sql`
      SELECT id, user_id, status, package_id, amount, currency, payment_intent_id
      FROM auto_top_up_attempt WHERE id = ${attemptId} FOR UPDATE`),
  );
  if (!attempt) return undefined;
  const paymentIntentId = outcome.paymentIntentId ?? null;
  const clientSecret = "clientSecret" in outcome ? (outcome.clientSecret ?? null) : null;
  if (!allowed(attempt.status, outcome.status)) {
    await tx.execute(sql`
      UPDATE auto_top_up_attempt SET payment_intent_id = coalesce(payment_intent_id, ${paymentIntentId}),
        client_secret = coalesce(client_secret, ${attempt.status === "requires_action" ? clientSecret : null}),
        updated_at = now()
      WHERE id = ${attempt.id}`);
    return attempt.status;
  }
  const error = outcome.status === "failed" || outcome.status === "requires_action" ? outcome.error : null;
  const finished = outcome.status !== "processing" && outcome.status !== "requires_action";
  await tx.execute(sql`
    UPDATE auto_top_up_attempt SET status = ${outcome.status},
      payment_intent_id = coalesce(payment_intent_id, ${paymentIntentId}),
      client_secret = CASE WHEN ${outcome.status} = 'requires_action' THEN coalesce(client_secret, ${clientSecret})
                           ELSE NULL END,
      failure_code = ${outcome.status === "canceled" ? outcome.reason : (error?.declineCode ?? error?.code ?? null)},
      failure_message = ${error?.message ?? null},
      leased_until = CASE WHEN ${outcome.status} = 'processing' THEN now() + interval '1 day' END,
      finished_at = CASE WHEN ${finished} THEN now() END,
      updated_at = now()
    WHERE id = ${attempt.id}`);
  const log = logger.child({ userId: attempt.user_id, attemptId: attempt.id, paymentIntentId });
  if (outcome.status === "succeeded") {
    await tx.execute(sql`
      UPDATE auto_top_up SET consecutive_failures = 0, updated_at = now() WHERE user_id = ${attempt.user_id}`);
    log.info("auto top-up succeeded");
  } else if (outcome.status === "requires_action") {
    await queueEmail(tx, attempt, "auto_top_up_action_required", {});
    log.info("auto top-up waits for the cardholder to authenticate");
  } else if (outcome.status === "failed" && outcome.error.code === PROVIDER_UNAVAILABLE) {
    log.warn("auto top-up given up: the payment provider could not be reached, nothing charged");
  } else if (outcome.status === "failed") {
    const [setting] = sqlRows<{ consecutive_failures: number; disabled_reason: string | null }>(
      await tx.execute(sql`
        UPDATE auto_top_up SET consecutive_failures = consecutive_failures + 1,
          enabled = enabled AND consecutive_failures + 1 < ${MAX_CONSECUTIVE_FAILURES},
          disabled_reason = CASE WHEN enabled AND consecutive_failures + 1 >= ${MAX_CONSECUTIVE_FAILURES}
                                 THEN 'three_failures' ELSE disabled_reason END,
          updated_at = now()
        WHERE user_id = ${attempt.user_id}
        RETURNING consecutive_failures, disabled_reason`),
    );
    // This failure is the one that turned it off (not a later one, nor the user's own switch).
    const disabled =
      setting?.disabled_reason === "three_failures" &&
      setting.consecutive_failures === MAX_CONSECUTIVE_FAILURES;
    if (disabled) await syncAccountThreshold(tx, attempt.user_id);
    await queueEmail(tx, attempt, "auto_top_up_failed", {
      declineCode: error?.declineCode ?? error?.code ?? null,
      failures: setting?.consecutive_failures ?? 1,
      disabled,
    });
    log.warn({ failures: setting?.consecutive_failures, disabled }, "auto top-up declined");
  }
  return outcome.status;
}

async function queueEmail(
  tx: DatabaseOrTransaction,
  attempt: LockedAttempt,
  kind: "auto_top_up_action_required" | "auto_top_up_failed",
  extra: Record<string, unknown>,
) {
  await tx.execute(sql`
    INSERT INTO email_outbox (user_id, kind, locale, payload)
    SELECT ${attempt.user_id}, ${kind}, coalesce(s.locale, 'en'),
           jsonb_build_object('attemptId', ${attempt.id}::text, 'packageId', ${attempt.package_id}::text,
                              'amount', ${attempt.amount}::integer, 'currency', ${attempt.currency}::text,
                              'last4', s.card_last4) || ${JSON.stringify(extra)}::jsonb
    FROM auto_top_up s WHERE s.user_id = ${attempt.user_id}`);
}

/**
 * Settles the attempt a PaymentIntent event belongs to, if it belongs to one (`metadata.autoTopUpAttemptId`
 * with the purchase's fields): called by the `payment_intent.succeeded`, `.payment_failed` and `.canceled`
 * handlers in the event's transaction, after the purchase was handled (credits come only from there).
 * Returns the attempt's status, or undefined for any other PaymentIntent.
 */
export async function settleAttemptOfPaymentIntent(
  tx: DatabaseOrTransaction,
  intent: Stripe.PaymentIntent,
): Promise<string | undefined> {
  const metadata = autoTopUpMetadataSchema.safeParse(intent.metadata);
  if (!metadata.success) return undefined;
  const attemptId = metadata.data.autoTopUpAttemptId;
  if (intent.status === "canceled")
    return settleAttempt(tx, attemptId, {
      status: "canceled",
      paymentIntentId: intent.id,
      reason: "payment_canceled",
    });
  const outcome = offSessionOutcome(intent);
  return settleAttempt(tx, attemptId, outcomeOf(outcome));
}

/** The provider's answer as an attempt's outcome. */
export function outcomeOf(charge: OffSessionCharge): AttemptOutcome {
  if (charge.status === "failed")
    return {
      status: "failed",
      paymentIntentId: charge.paymentIntentId,
      error: charge.error ?? { code: "payment_failed", declineCode: null, message: "The payment failed." },
    };
  return {
    status: charge.status,
    paymentIntentId: charge.paymentIntentId,
    clientSecret: charge.clientSecret,
    ...(charge.status === "requires_action" ? { error: charge.error } : {}),
  } as AttemptOutcome;
}

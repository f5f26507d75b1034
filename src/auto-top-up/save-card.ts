import { sql } from "drizzle-orm";
import { lockAccount } from "@/credits/lock-account";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { findPaymentCustomer } from "@/payment/subscriptions/payment-customers";
import type { PaymentProvider, SetupIntentState } from "@/payment/types";
import { SetupIncompleteError } from "./errors";
import { defaultAutoTopUpSetting, getAutoTopUp } from "./get-auto-top-up";
import type { AutoTopUpView } from "./schemas";

/**
 * Checks that a SetupIntent, as the provider reports it, saved a card for this user: succeeded, with a
 * payment method, made by this server for this user (`metadata.userId`) on the user's own customer. The
 * answer names the refusal, or the card to keep.
 */
export async function cardOfSetupIntent(
  db: DatabaseOrTransaction,
  provider: PaymentProvider["name"],
  userId: string,
  intent: SetupIntentState | undefined,
): Promise<
  { ok: true; card: NonNullable<SetupIntentState["paymentMethod"]> } | { ok: false; reason: string }
> {
  if (!intent || intent.userId !== userId) return { ok: false, reason: "not this user's SetupIntent" };
  const customerId = await findPaymentCustomer(db, userId, provider);
  if (!customerId || intent.customerId !== customerId)
    return { ok: false, reason: "the SetupIntent is not on the user's customer" };
  if (intent.status !== "succeeded" || !intent.paymentMethod)
    return { ok: false, reason: `the SetupIntent is ${intent.status}` };
  return { ok: true, card: intent.paymentMethod };
}

/**
 * Records the card a succeeded SetupIntent saved (payment method id, brand, last four digits; never the
 * number) on the user's auto top-up, creating the setting with the page's defaults (off) if there is none.
 * A SetupIntent older than the one already recorded changes nothing (events and the page's report may
 * arrive in any order); the same one again changes nothing either. A new card clears the failure count and
 * the reason auto top-up turned itself off (the declines were the old card's); turning it back on is the
 * user's choice. Call it in a transaction; it takes the account's row lock first, as every change of the
 * setting does, so it never interleaves with a spend's decision.
 */
export async function recordSavedCard(
  tx: DatabaseOrTransaction,
  input: {
    userId: string;
    setupIntentId: string;
    setUpAt: Date;
    card: { id: string; brand: string; last4: string };
  },
): Promise<boolean> {
  await lockAccount(tx, input.userId);
  const fallback = defaultAutoTopUpSetting();
  const result = await tx.execute(sql`
    INSERT INTO auto_top_up (user_id, enabled, package_id, package_amount, currency, threshold_credits,
                             monthly_cap_amount, payment_method_id, setup_intent_id, card_brand, card_last4,
                             card_set_up_at)
    VALUES (${input.userId}, false, ${fallback.packageId}, ${fallback.packageAmount}, ${fallback.currency},
            ${fallback.thresholdCredits}, ${fallback.monthlyCapAmount}, ${input.card.id}, ${input.setupIntentId},
            ${input.card.brand}, ${input.card.last4}, ${input.setUpAt.toISOString()}::timestamptz)
    ON CONFLICT (user_id) DO UPDATE SET
      payment_method_id = excluded.payment_method_id, setup_intent_id = excluded.setup_intent_id,
      card_brand = excluded.card_brand, card_last4 = excluded.card_last4, card_set_up_at = excluded.card_set_up_at,
      consecutive_failures = 0, disabled_reason = NULL, updated_at = now()
    WHERE auto_top_up.setup_intent_id IS DISTINCT FROM excluded.setup_intent_id
      AND (auto_top_up.card_set_up_at IS NULL OR auto_top_up.card_set_up_at <= excluded.card_set_up_at)
    RETURNING user_id`);
  return (result as { rows: unknown[] }).rows.length > 0;
}

/**
 * POST /api/credits/auto-top-up/card `{setupIntentId}`: the browser reports the SetupIntent it confirmed;
 * the server reads it back from the provider (a payment method id sent by a client is never trusted) and
 * records its card (recordSavedCard). Errors: SetupIncompleteError (409: not succeeded, not this user's),
 * PaymentProviderUnavailableError (502). Answers the view.
 */
export async function saveCardFromSetupIntent(
  db: Database,
  provider: PaymentProvider,
  userId: string,
  setupIntentId: string,
): Promise<AutoTopUpView> {
  const intent = await provider.retrieveSetupIntent(setupIntentId);
  const checked = await cardOfSetupIntent(db, provider.name, userId, intent);
  if (!checked.ok || !intent) {
    logger.info({ userId, setupIntentId, reason: checked.ok ? "missing" : checked.reason }, "card not saved");
    throw new SetupIncompleteError("This card setup has not succeeded: confirm the card first.", {
      setupIntentId,
    });
  }
  return db.transaction(async (tx) => {
    await recordSavedCard(tx, {
      userId,
      setupIntentId: intent.id,
      setUpAt: intent.created,
      card: checked.card,
    });
    return getAutoTopUp(tx, userId);
  });
}

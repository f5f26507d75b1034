import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { stripeAmountProblem } from "@/catalog/currencies";
import { CreditsError, InvalidInputError, NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { amountsCreditedByProration, refundableAmount } from "./subscriptions/proration-credits";
import type { PaymentProvider } from "./types";

/**
 * A refund of more than is left to refund (409 `refund_not_possible`, as every refusal of a refund): the
 * amount paid less what was refunded and less what later prorations credited back against the invoice.
 * `context.refundable` says how much may still be refunded, in minor units of `context.currency`; the
 * message says the same in words, naming the proration credit when there is one.
 */
export class RefundExceedsRefundableError extends CreditsError<"refund_not_possible"> {
  constructor(context: {
    purchaseId: string;
    refundable: number;
    requested: number | null;
    currency: string;
    amount: number;
    amountRefunded: number;
    creditedByProration: number;
  }) {
    super(
      "refund_not_possible",
      context.creditedByProration > 0
        ? `At most ${context.refundable} (minor units of ${context.currency}) can be refunded: of ${context.amount} paid, ${context.amountRefunded} was refunded and ${context.creditedByProration} was already credited back by a plan change's proration.`
        : `At most ${context.refundable} (minor units of ${context.currency}) can be refunded: of ${context.amount} paid, ${context.amountRefunded} was refunded.`,
      { context },
    );
  }
}

/**
 * An admin refunds a purchase: the provider (Stripe, or the sandbox) is asked to refund, and the audit log
 * records who asked. Credits are not touched here: the ledger changes when the refund's event arrives,
 * exactly as for a refund made in Stripe's dashboard, so there is one path for every refund.
 *
 * `amount` is in the purchase currency's minor units as Stripe counts them (src/catalog/currencies.ts).
 * Everything Stripe would refuse is refused here first, before anything is asked of the provider, with
 * invalid_input (400): a reason PostgreSQL cannot store (the audit entry is written after the provider
 * accepted, so it must not fail then), or an amount that is not a whole multiple of the currency's
 * step (whole krónur for ISK and UGX, a last digit of 0 for KWD, BHD, JOD, OMR and TND).
 *
 * At most the refundable amount is refunded (RefundExceedsRefundableError, 409 `refund_not_possible`, otherwise): the amount paid
 * less what was refunded less what a later plan change's proration credited back against the purchase's
 * invoice (invoice_proration_credit, proration-credits.ts). Without an amount, that whole remainder is
 * refunded. Refunds made in Stripe's Dashboard are facts and are recorded whatever they exceed
 * (record-refund-facts.ts); this cap is for refunds asked for through the app.
 */
export async function refundPurchase(
  db: Database,
  provider: PaymentProvider,
  input: { purchaseId: string; amount?: number; reason: string; requestId?: string },
  actor: Actor,
): Promise<{ refundId: string }> {
  if (!isStorableText(input.reason))
    throw new InvalidInputError(
      "The reason contains text that cannot be stored (U+0000 or an unpaired surrogate).",
    );
  const [purchase] = await db.select().from(creditPurchase).where(eq(creditPurchase.id, input.purchaseId));
  if (!purchase) throw new NotFoundError("Purchase");
  if (purchase.status !== "succeeded" || !purchase.paymentIntentId) {
    throw new CreditsError("refund_not_possible", "Only a succeeded purchase can be refunded.");
  }
  if (purchase.provider !== provider.name) {
    throw new CreditsError(
      "refund_not_possible",
      `This purchase was paid with ${purchase.provider}, not ${provider.name}.`,
    );
  }
  if (input.amount !== undefined && (!Number.isSafeInteger(input.amount) || input.amount <= 0)) {
    throw new CreditsError(
      "refund_not_possible",
      "A refund amount must be a positive whole number of minor units.",
    );
  }
  if (input.amount !== undefined) {
    const problem = stripeAmountProblem({ amount: input.amount, currency: purchase.currency });
    if (problem)
      throw new InvalidInputError(`Stripe would refuse this refund: ${problem}.`, { amount: input.amount });
  }
  // A subscription invoice whose unused time a later invoice already credited back (a plan change's
  // proration: Pro → Max, monthly → yearly) has that much less to refund: paying it out again would give the
  // customer the same money twice. Stripe does not know that link for a refund, so the cap is ours.
  const credited = purchase.invoiceId
    ? ((await amountsCreditedByProration(db, [purchase.invoiceId])).get(purchase.invoiceId) ?? 0)
    : 0;
  const refundable = refundableAmount({ ...purchase, creditedByProration: credited });
  if (input.amount !== undefined ? input.amount > refundable : refundable <= 0)
    throw new RefundExceedsRefundableError({
      purchaseId: purchase.id,
      refundable,
      requested: input.amount ?? null,
      currency: purchase.currency,
      amount: purchase.amount,
      amountRefunded: purchase.amountRefunded,
      creditedByProration: credited,
    });
  const amount = input.amount ?? refundable;
  const { refundId } = await provider.refundPayment({
    paymentIntentId: purchase.paymentIntentId,
    // "The rest" is left to the provider (the charge's remainder at that moment) unless part of the charge
    // was credited by a proration: then the rest the provider knows is more than may be refunded.
    ...(input.amount !== undefined || credited > 0 ? { amount } : {}),
    // The request id (the admin form makes one per dialog) makes a double click or a retry one refund.
    // Without one, every call is a refund of its own: a key derived from the purchase's refund state
    // repeats when that state comes round again (a second refund asked for on purpose before the first
    // one's event arrived, or a refund asked for again after Stripe reported the first failed), and the
    // provider would answer it with the first refund, which the admin would be told was made.
    idempotencyKey: `refund:${purchase.id}:${input.requestId ?? randomUUID()}`,
  });
  // Recorded once the provider accepted the refund, so a refused request leaves no trace of a refund.
  await recordAudit(db, actor, "purchase.refund_requested", purchase.userId, {
    purchaseId: purchase.id,
    refundId,
    amount,
    currency: purchase.currency,
    reason: input.reason,
  });
  logger.info(
    { purchaseId: purchase.id, userId: purchase.userId, refundId, actor: actor.label },
    "refund requested",
  );
  return { refundId };
}

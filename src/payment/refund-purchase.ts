import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { stripeAmountProblem } from "@/catalog/currencies";
import { CreditsError, InvalidInputError, NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import type { PaymentProvider } from "./types";

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
  const amount = input.amount ?? purchase.amount - purchase.amountRefunded;
  const { refundId } = await provider.refundPayment({
    paymentIntentId: purchase.paymentIntentId,
    ...(input.amount !== undefined ? { amount: input.amount } : {}),
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

import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { stripeAmountProblem } from "@/catalog/currencies";
import { CreditsError, InvalidInputError, NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { sqlRows } from "@/credits/sql-rows";
import { creditPurchase, refundRequest } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { amountsCreditedByProration, refundableAmount } from "./subscriptions/proration-credits";
import { type PaymentProvider, RefundRefusedError } from "./types";

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
  // The request id (the admin form makes one per dialog) makes a double click or a retry one refund.
  // Without one, every call is a refund of its own: a key derived from the purchase's refund state
  // repeats when that state comes round again (a second refund asked for on purpose before the first
  // one's event arrived, or a refund asked for again after Stripe reported the first failed), and the
  // provider would answer it with the first refund, which the admin would be told was made.
  const idempotencyKey = `refund:${purchase.id}:${input.requestId ?? randomUUID()}`;
  const reserved = await reserveRefund(db, purchase.id, input.amount, idempotencyKey);
  let refundId: string;
  try {
    ({ refundId } = await provider.refundPayment({
      paymentIntentId: reserved.paymentIntentId,
      // Sent as the request's first call sent it (reserveRefund decides, once per request id).
      ...(reserved.sendsAmount ? { amount: reserved.amount } : {}),
      idempotencyKey,
    }));
  } catch (error) {
    // Only an answer that no refund was made (RefundRefusedError: a card or invalid-request error) frees
    // the reservation, and only of a request never accepted (settleRefundRequest). Anything else (the
    // network, a 5xx, an idempotency_error) may hide a refund the provider made: the row stays as it is,
    // an accepted one accepted, a `requested` one counting until the refund's events show it or
    // REQUEST_COUNTS_FOR_MINUTES pass, so a second refund cannot pass the cap meanwhile.
    if (error instanceof RefundRefusedError)
      await settleRefundRequest(db, idempotencyKey, { status: "refused" });
    throw error;
  }
  await settleRefundRequest(db, idempotencyKey, { status: "accepted", refundId });
  const amount = reserved.amount;
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

/**
 * A `requested` refund whose provider call has had this long to answer is taken as lost (the process
 * stopped mid-call); if the provider made it, its events show it in the refunded amount.
 */
const REQUEST_COUNTS_FOR_MINUTES = 15;

/**
 * An accepted refund that no event has shown for this long stops counting: Stripe retries its events for
 * three days, so by then they have arrived or never will (an endpoint not subscribed to them).
 */
const ACCEPTED_COUNTS_FOR_DAYS = 3;

/**
 * Checks the refundable cap and reserves the refund, in one short transaction holding the purchase's row
 * lock, so concurrent refunds of one purchase check one after another and each sees the others: the
 * amount paid, less what was refunded (the refund facts), less what prorations credited back, less the
 * refunds asked for here whose events have not arrived yet (refundsInFlight). The provider is asked
 * after the commit: no row lock waits on the network, and the sandbox, which delivers the refund's events
 * before it answers, can lock the purchase. A request already reserved under the same key (a double
 * click, a retry) is asked again as it is: the provider answers it with the same refund.
 *
 * `sendsAmount` says whether the provider is asked for `amount` or left to refund the rest of the charge.
 * "The rest" is left to the provider (the charge's remainder at that moment, which counts refunds made in
 * Stripe's Dashboard the app has not heard of yet) unless an amount was asked for, part of the charge was
 * credited by a proration, or another refund asked for here is still on its way: then the rest the provider
 * knows is more than may be refunded. It is decided once per request id and stored with the reservation,
 * because a retry of the request finds its own reservation in flight and would otherwise send an amount
 * the first call did not: Stripe refuses a key reused with other parameters (`idempotency_error`), so an
 * admin's retry of "refund the rest" would fail although it is the same refund.
 * Errors: RefundExceedsRefundableError, CreditsError `refund_not_possible`.
 */
async function reserveRefund(
  db: Database,
  purchaseId: string,
  requested: number | undefined,
  idempotencyKey: string,
): Promise<{ paymentIntentId: string; amount: number; sendsAmount: boolean }> {
  return db.transaction(async (tx) => {
    const [purchase] = await tx
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, purchaseId))
      .for("update");
    if (purchase?.status !== "succeeded" || !purchase.paymentIntentId)
      throw new CreditsError("refund_not_possible", "Only a succeeded purchase can be refunded.");
    const [again] = await tx
      .select()
      .from(refundRequest)
      .where(eq(refundRequest.idempotencyKey, idempotencyKey));
    // One request id is one refund: another amount under it is refused here, before the provider is asked,
    // so the refund made first keeps its reservation whatever the provider answers the second.
    if (again && requested !== undefined && requested !== again.amount)
      throw new CreditsError(
        "refund_not_possible",
        `This request was already made for a refund of ${again.amount} (minor units of ${purchase.currency}); ask for another amount as a new request.`,
      );
    // Asked again as it was asked (a double click, a retry): the reservation it made counts already, and the
    // provider answers the key with the same refund. A request refused for certain is checked against the
    // cap again like a new one below.
    // Sent as the first call sent it: an amount asked for that equals the reservation's is the same
    // request, even when the first call left the amount to the provider.
    if (again && again.status !== "refused")
      return {
        paymentIntentId: purchase.paymentIntentId,
        amount: again.amount,
        sendsAmount: again.sendsAmount,
      };
    // A subscription invoice whose unused time a later invoice already credited back (a plan change's
    // proration: Pro → Max, monthly → yearly) has that much less to refund: paying it out again would give
    // the customer the same money twice. Stripe does not know that link for a refund, so the cap is ours.
    const credited = purchase.invoiceId
      ? ((await amountsCreditedByProration(tx, [purchase.invoiceId])).get(purchase.invoiceId) ?? 0)
      : 0;
    const inFlight = await refundsInFlight(tx, purchase);
    const refundable = Math.max(
      0,
      refundableAmount({ ...purchase, creditedByProration: credited }) - inFlight,
    );
    if (requested !== undefined ? requested > refundable : refundable <= 0)
      throw new RefundExceedsRefundableError({
        purchaseId: purchase.id,
        refundable,
        requested: requested ?? null,
        currency: purchase.currency,
        amount: purchase.amount,
        amountRefunded: purchase.amountRefunded + inFlight,
        creditedByProration: credited,
      });
    const amount = requested ?? refundable;
    const sendsAmount = requested !== undefined || credited > 0 || inFlight > 0;
    if (again)
      await tx
        .update(refundRequest)
        .set({ status: "requested", amount, sendsAmount, createdAt: sql`now()`, updatedAt: sql`now()` })
        .where(eq(refundRequest.id, again.id));
    else
      await tx.insert(refundRequest).values({ purchaseId: purchase.id, amount, sendsAmount, idempotencyKey });
    return { paymentIntentId: purchase.paymentIntentId, amount, sendsAmount };
  });
}

/**
 * The refunds asked for here that the purchase's refunded amount may not show yet, in minor units: those
 * being asked (for REQUEST_COUNTS_FOR_MINUTES), and those the provider accepted whose refund no refund
 * event has named (credit_refund) and no charge figure taken after them can include (`charge_refunded_at`
 * at or before the request's second: Stripe's event times are whole seconds, so a figure of the same
 * second may predate the refund), for ACCEPTED_COUNTS_FOR_DAYS. Counting one twice for a moment (a figure
 * that does include it) only refuses a refund that would fit; not counting it could pay out twice.
 */
async function refundsInFlight(
  tx: DatabaseOrTransaction,
  purchase: typeof creditPurchase.$inferSelect,
): Promise<number> {
  const [row] = sqlRows<{ amount: string | number }>(
    await tx.execute(sql`
      SELECT coalesce(sum(r.amount), 0) AS amount FROM refund_request r
      WHERE r.purchase_id = ${purchase.id}
        AND ((r.status = 'requested'
              AND r.created_at > now() - make_interval(mins => ${REQUEST_COUNTS_FOR_MINUTES}))
          OR (r.status = 'accepted'
              AND r.created_at > now() - make_interval(days => ${ACCEPTED_COUNTS_FOR_DAYS})
              AND NOT EXISTS (SELECT 1 FROM credit_refund f WHERE f.refund_id = r.refund_id)
              AND (${purchase.chargeRefundedAt?.toISOString() ?? null}::timestamptz IS NULL
                   OR ${purchase.chargeRefundedAt?.toISOString() ?? null}::timestamptz
                      <= date_trunc('second', r.created_at))))`),
  );
  return Number(row?.amount ?? 0);
}

/**
 * The provider's answer to a reserved refund: `accepted` with its refund id, or `refused`. Refused only
 * while still `requested`: a refund once accepted was made, and a later error under its key (a retry)
 * cannot unmake it.
 */
async function settleRefundRequest(
  db: Database,
  idempotencyKey: string,
  outcome: { status: "accepted"; refundId: string } | { status: "refused" },
): Promise<void> {
  await db
    .update(refundRequest)
    .set({ ...outcome, updatedAt: sql`now()` })
    .where(
      outcome.status === "refused"
        ? and(eq(refundRequest.idempotencyKey, idempotencyKey), eq(refundRequest.status, "requested"))
        : eq(refundRequest.idempotencyKey, idempotencyKey),
    );
}

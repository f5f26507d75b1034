import { eq, sql } from "drizzle-orm";
import { CreditsError, NotFoundError } from "@/credits/errors";
import { sandboxInvoice, sandboxPaymentIntent } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { deliverPendingEventsOf, deliverPendingEventsOfSubscription } from "./deliver-sandbox-events";
import { enqueueSandboxEvent, toStripePaymentIntent } from "./sandbox-events";
import { runSandboxIdempotent } from "./sandbox-idempotency";
import { onSandboxInvoicePayment } from "./sandbox-invoice-payment";
import { type CardOutcome, cardOutcome, cardToKeep } from "./test-cards";

export type SandboxConfirmResult =
  | { status: "succeeded"; paymentIntentId: string }
  | {
      status: "requires_payment_method";
      paymentIntentId: string;
      error: { code: "card_declined"; declineCode: string; message: string };
    }
  | {
      /** The card asks for authentication (4000 0025 0000 3155), which the sandbox cannot give: nothing is paid. */
      status: "requires_action";
      paymentIntentId: string;
      error: { code: "authentication_required"; message: string };
    };

export class InvalidCardError extends CreditsError<"invalid_card"> {
  constructor(message: string) {
    super("invalid_card", message);
  }
}

type Confirmed = {
  result: SandboxConfirmResult;
  eventId: string | null;
  /** The sandbox subscription whose invoice this PaymentIntent pays, if it pays one. */
  subscriptionId?: string | null;
};

/**
 * Confirms a sandbox PaymentIntent with a test card, the way Stripe's test mode would, and delivers the
 * resulting event, signed with the sandbox's webhook secret, through the same verification and handler
 * code as POST /api/webhooks/stripe before answering, so the credits are there when "succeeded" is.
 *
 * The PaymentIntent's new state and its event are written in one transaction (the event goes to an
 * outbox), so a delivery that fails (the customer's account row locked, the database busy) is not lost:
 * the confirm still answers, and the jobs retry the delivery with backoff until it is applied. A
 * confirm of a PaymentIntent that already succeeded delivers anything of it still waiting, and answers
 * "succeeded" again. Only the purchase's owner may confirm it.
 *
 * A trial's $0 first invoice is confirmed the same way: nothing is charged, the card is collected and
 * kept for the charge at the trial's end (a card Stripe would refuse to attach is declined now, and the
 * trial does not start).
 *
 * With an `idempotencyKey` (the route's Idempotency-Key header) the confirm is idempotent as Stripe's
 * is: the same key and card replay the first answer; another card under the same key is refused
 * (`idempotency_error`).
 */
export async function confirmSandboxPayment(
  db: Database,
  input: {
    paymentIntentId: string;
    userId: string;
    cardNumber: string;
    webhookSecret: string;
    idempotencyKey?: string;
  },
): Promise<SandboxConfirmResult> {
  const [intent] = await db
    .select({ metadata: sandboxPaymentIntent.metadata })
    .from(sandboxPaymentIntent)
    .where(eq(sandboxPaymentIntent.id, input.paymentIntentId));
  // Someone else's PaymentIntent is reported exactly like a missing one, so ids cannot be probed.
  if (!intent || intent.metadata.userId !== input.userId) throw new NotFoundError("PaymentIntent");

  const confirm = (tx: DatabaseOrTransaction) => confirmInTransaction(tx, input);
  const confirmed = input.idempotencyKey
    ? await runSandboxIdempotent(
        db,
        {
          idempotencyKey: input.idempotencyKey,
          operation: `POST /v1/payment_intents/${input.paymentIntentId}/confirm`,
          params: { payment_method_data: { card: { number: input.cardNumber } } },
        },
        confirm,
      )
    : await db.transaction(confirm);

  // Delivered at once, so the ledger is written when the customer sees "succeeded"; anything older
  // that is still waiting for this PaymentIntent (a retried confirm) goes out too. A delivery that fails
  // stays in the outbox for the worker and does not fail the confirm: the payment did succeed. An
  // invoice's PaymentIntent delivers its subscription's events, in order (the subscription's own events
  // and those of the invoice and the PaymentIntent): the period's credits arrive with the answer.
  if (confirmed.subscriptionId)
    await deliverPendingEventsOfSubscription(db, input.webhookSecret, confirmed.subscriptionId);
  else await deliverPendingEventsOf(db, input.webhookSecret, input.paymentIntentId);
  return confirmed.result;
}

async function confirmInTransaction(
  tx: DatabaseOrTransaction,
  input: { paymentIntentId: string; cardNumber: string },
): Promise<Confirmed> {
  // Locked, so two confirms at once decide one after the other: only one can succeed the payment.
  const [intent] = await tx
    .select()
    .from(sandboxPaymentIntent)
    .where(eq(sandboxPaymentIntent.id, input.paymentIntentId))
    .for("update");
  if (!intent) throw new NotFoundError("PaymentIntent");
  // The subscription is named (when the PaymentIntent pays an invoice) so a retried confirm delivers
  // whatever of it is still waiting.
  const subscriptionOf = async () =>
    intent.invoiceId
      ? ((
          await tx
            .select({ subscriptionId: sandboxInvoice.subscriptionId })
            .from(sandboxInvoice)
            .where(eq(sandboxInvoice.id, intent.invoiceId))
        )[0]?.subscriptionId ?? null)
      : null;
  if (intent.status === "succeeded") {
    return {
      result: { status: "succeeded", paymentIntentId: intent.id },
      eventId: null,
      subscriptionId: await subscriptionOf(),
    };
  }
  if (intent.status === "canceled")
    throw new CreditsError("payment_intent_unexpected_state", "This payment was canceled.");

  // A $0 invoice (a trial's first) charges nothing: confirming it collects the card for the charge at the
  // trial's end, as Stripe Checkout's setup does. A card that attaches but fails every charge (0341) is
  // kept then, and fails at the trial's end; any other card goes as it would for a charge (0002 declined,
  // 3155 waiting for an authentication the sandbox cannot give).
  const collected = intent.amount === 0 && intent.invoiceId !== null ? cardToKeep(input.cardNumber) : null;
  const keptOnFile = collected?.ok && collected.card.behavior === "charge_fails" ? collected.card : null;
  const outcome: CardOutcome = keptOnFile ? { kind: "succeeded" } : cardOutcome(input.cardNumber);
  if (outcome.kind === "invalid") throw new InvalidCardError(outcome.message);

  const lastError =
    outcome.kind === "declined"
      ? { code: "card_declined", decline_code: outcome.declineCode, message: outcome.message }
      : null;
  const [updated] = await tx
    .update(sandboxPaymentIntent)
    .set({
      status:
        outcome.kind === "succeeded"
          ? "succeeded"
          : outcome.kind === "requires_action"
            ? "requires_action"
            : "requires_payment_method",
      lastError,
      updatedAt: sql`now()`,
    })
    .where(eq(sandboxPaymentIntent.id, intent.id))
    .returning();
  if (!updated) throw new NotFoundError("PaymentIntent");
  const subscriptionId = await subscriptionOf();
  const eventId = await enqueueSandboxEvent(
    tx,
    outcome.kind === "succeeded"
      ? "payment_intent.succeeded"
      : outcome.kind === "requires_action"
        ? "payment_intent.requires_action"
        : "payment_intent.payment_failed",
    toStripePaymentIntent(updated),
    updated.id,
    subscriptionId ? { subscriptionId } : {},
  );
  // An invoice's payment moves the invoice and its subscription too, in this same transaction.
  if (intent.invoiceId) {
    await onSandboxInvoicePayment(tx, {
      invoiceId: intent.invoiceId,
      outcome,
      // Only a card that paid is kept for renewals (Stripe saves the payment method of a succeeded first
      // payment); a failed attempt keeps nothing.
      ...(keptOnFile
        ? { card: keptOnFile }
        : outcome.kind === "succeeded"
          ? { card: { behavior: "succeeds" as const, last4: input.cardNumber.replace(/\D/g, "").slice(-4) } }
          : {}),
    });
  }

  if (outcome.kind === "succeeded") {
    return { result: { status: "succeeded", paymentIntentId: intent.id }, eventId, subscriptionId };
  }
  if (outcome.kind === "requires_action") {
    return {
      result: {
        status: "requires_action",
        paymentIntentId: intent.id,
        error: { code: "authentication_required", message: outcome.message },
      },
      eventId,
      subscriptionId,
    };
  }
  return {
    result: {
      status: "requires_payment_method",
      paymentIntentId: intent.id,
      error: { code: "card_declined", declineCode: outcome.declineCode, message: outcome.message },
    },
    eventId,
    subscriptionId,
  };
}

import { eq, sql } from "drizzle-orm";
import { sandboxInvoice, sandboxPaymentIntent, sandboxSubscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { sandboxPriceById } from "./sandbox-billing";
import { enqueueSandboxEvent, toStripePaymentIntent } from "./sandbox-events";
import {
  type SandboxInvoiceRow,
  type SandboxSubscriptionRow,
  sandboxTrialOf,
  toStripeInvoice,
  toStripeSubscription,
} from "./sandbox-subscription-events";
import { type CardOutcome, chargeKeptCard, type KeptCard } from "./test-cards";

export type { KeptCard } from "./test-cards";

/** The outcome of one attempt to pay an invoice. */
export type InvoiceAttemptOutcome = CardOutcome & { kind: "succeeded" | "declined" | "requires_action" };

/** Statuses a failed renewal moves to `past_due` (Stripe's lifecycle; a first invoice stays `incomplete`). */
const RENEWING = new Set(["active", "trialing"]);

/**
 * What paying (or failing to pay) a sandbox invoice does besides the PaymentIntent, the way Stripe's
 * invoices behave. Runs in the transaction that moved the invoice's PaymentIntent, so the invoice, the
 * subscription and their events change together with the payment.
 *
 * - Paid: the invoice becomes `paid`, the subscription `active` (from `incomplete`, `past_due` or
 *   `trialing`; a trial's $0 first invoice makes it `trialing` instead, statusAfterPaid), and
 *   `card` (when given: the card the customer just paid with) is kept for renewals; `invoice.paid` (with
 *   its payments, so the handler need not ask for the PaymentIntent) and, when the status moved,
 *   `customer.subscription.updated` are written to the outbox.
 * - Declined or waiting for authentication: the attempt is counted and the invoice stays open. A renewal
 *   makes the subscription `past_due` (`customer.subscription.updated`); a first invoice leaves it
 *   `incomplete`. `invoice.payment_failed` (declined) or `invoice.payment_action_required` is written.
 *   Nothing is granted and nothing is taken: only `invoice.paid` grants, and credits only end by expiry.
 *
 * Returns the sandbox subscription's id, whose events the caller delivers after the commit.
 */
export async function onSandboxInvoicePayment(
  tx: DatabaseOrTransaction,
  input: { invoiceId: string; outcome: InvoiceAttemptOutcome; card?: KeptCard },
): Promise<{ subscriptionId: string }> {
  // The PaymentIntent (locked by the caller), the invoice, then the subscription: the order in which
  // sandbox billing paths lock them, so two of them never wait on each other in a circle.
  const [invoice] = await tx
    .select()
    .from(sandboxInvoice)
    .where(eq(sandboxInvoice.id, input.invoiceId))
    .for("update");
  if (!invoice) throw new Error(`sandbox invoice ${input.invoiceId} is missing`);
  const [current] = await tx
    .select()
    .from(sandboxSubscription)
    .where(eq(sandboxSubscription.id, invoice.subscriptionId))
    .for("update");
  if (!current) throw new Error(`sandbox subscription ${invoice.subscriptionId} is missing`);

  if (input.outcome.kind !== "succeeded") {
    const [failed] = await tx
      .update(sandboxInvoice)
      .set({ attemptCount: sql`${sandboxInvoice.attemptCount} + 1` })
      .where(eq(sandboxInvoice.id, invoice.id))
      .returning();
    if (!failed) throw new Error("sandbox invoice was not updated");
    let subscription = current;
    if (RENEWING.has(current.status)) {
      const [pastDue] = await tx
        .update(sandboxSubscription)
        .set({ status: "past_due", updatedAt: sql`now()` })
        .where(eq(sandboxSubscription.id, current.id))
        .returning();
      if (!pastDue) throw new Error("sandbox subscription was not updated");
      subscription = pastDue;
    }
    await enqueueSandboxEvent(
      tx,
      input.outcome.kind === "requires_action" ? "invoice.payment_action_required" : "invoice.payment_failed",
      toStripeInvoice(failed, subscription),
      failed.paymentIntentId,
      { subscriptionId: subscription.id },
    );
    if (subscription.status !== current.status) await enqueueStatusChange(tx, subscription, current.status);
    return { subscriptionId: current.id };
  }

  // Paid at the subscription's time: its test clock when it runs ahead of the real one.
  const [paid] = await tx
    .update(sandboxInvoice)
    .set({
      status: "paid",
      amountPaid: invoice.amountDue,
      attemptCount: sql`${sandboxInvoice.attemptCount} + 1`,
      paidAt: sql`greatest(now(), ${current.clock.toISOString()}::timestamptz)`,
    })
    .where(eq(sandboxInvoice.id, invoice.id))
    .returning();
  if (!paid) throw new Error("sandbox invoice was not updated");
  const [subscription] = await tx
    .update(sandboxSubscription)
    .set({
      status: statusAfterPaid(current, paid),
      ...(input.card ? { cardBehavior: input.card.behavior, cardLast4: input.card.last4 } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(sandboxSubscription.id, current.id))
    .returning();
  if (!subscription) throw new Error("sandbox subscription was not updated");

  await enqueueSandboxEvent(
    tx,
    "invoice.paid",
    toStripeInvoice(paid, subscription, { withPayments: true }),
    paid.paymentIntentId,
    { subscriptionId: subscription.id },
  );
  if (subscription.status !== current.status) await enqueueStatusChange(tx, subscription, current.status);
  return { subscriptionId: subscription.id };
}

/**
 * A subscription's status once an invoice of it is paid, as at Stripe: the $0 first invoice of a trial
 * (the card collected) starts the trial, `trialing`; any other paid invoice of one that was waiting for
 * its first payment, past due or trialing (the first real charge at the trial's end) makes it `active`.
 */
function statusAfterPaid(current: SandboxSubscriptionRow, invoice: SandboxInvoiceRow): string {
  if (
    current.status === "incomplete" &&
    invoice.billingReason === "subscription_create" &&
    invoice.amountDue === 0 &&
    sandboxTrialOf(current)
  )
    return "trialing";
  // A plan change's invoice during the trial leaves it a trial; only the charge at its end closes it.
  if (current.status === "trialing" && invoice.billingReason !== "subscription_cycle") return "trialing";
  return BECOMES_ACTIVE.has(current.status) ? "active" : current.status;
}

/** Statuses a paid invoice makes `active`. */
const BECOMES_ACTIVE = new Set(["incomplete", "past_due", "trialing"]);

async function enqueueStatusChange(
  tx: DatabaseOrTransaction,
  subscription: SandboxSubscriptionRow,
  previousStatus: string,
): Promise<void> {
  await enqueueSandboxEvent(
    tx,
    "customer.subscription.updated",
    toStripeSubscription(subscription, await sandboxPriceById(tx, subscription.priceId)),
    null,
    { subscriptionId: subscription.id, previousAttributes: { status: previousStatus } },
  );
}

/**
 * Charges an open invoice off-session with the card kept on the subscription, as Stripe does when a
 * period begins or when it retries a failed invoice: the PaymentIntent moves by the card's behaviour
 * (succeeded; declined with `card_declined`, back to `requires_payment_method`; or `requires_action`), its
 * `payment_intent.*` event is written, and the invoice and subscription follow (onSandboxInvoicePayment).
 *
 * Lock order: the caller holds the subscription's lock only when it made the invoice in the same
 * transaction (a renewal: nobody else can know that PaymentIntent yet); for an invoice that already
 * existed use retrySandboxInvoice, which locks PaymentIntent → invoice → subscription as confirm does.
 * Returns the invoice's status afterwards (`paid` or `open`).
 */
export async function chargeSandboxInvoice(
  tx: DatabaseOrTransaction,
  invoice: SandboxInvoiceRow,
  subscription: Pick<SandboxSubscriptionRow, "id" | "cardBehavior">,
): Promise<{ status: "paid" | "open" }> {
  if (!invoice.paymentIntentId) throw new Error(`sandbox invoice ${invoice.id} has no PaymentIntent`);
  const outcome = chargeKeptCard(subscription.cardBehavior);
  const [intent] = await tx
    .update(sandboxPaymentIntent)
    .set({
      status:
        outcome.kind === "succeeded"
          ? "succeeded"
          : outcome.kind === "requires_action"
            ? "requires_action"
            : "requires_payment_method",
      lastError:
        outcome.kind === "declined"
          ? { code: "card_declined", decline_code: outcome.declineCode, message: outcome.message }
          : null,
      updatedAt: sql`now()`,
    })
    .where(eq(sandboxPaymentIntent.id, invoice.paymentIntentId))
    .returning();
  if (!intent) throw new Error(`sandbox PaymentIntent ${invoice.paymentIntentId} is missing`);
  await enqueueSandboxEvent(
    tx,
    outcome.kind === "succeeded"
      ? "payment_intent.succeeded"
      : outcome.kind === "requires_action"
        ? "payment_intent.requires_action"
        : "payment_intent.payment_failed",
    toStripePaymentIntent(intent),
    intent.id,
    { subscriptionId: subscription.id },
  );
  await onSandboxInvoicePayment(tx, { invoiceId: invoice.id, outcome });
  return { status: outcome.kind === "succeeded" ? "paid" : "open" };
}

/**
 * Retries the open invoice of a `past_due` sandbox subscription with the card now on file (after the
 * card was changed, or when its clock is advanced), the way Stripe retries a failed renewal. Locks the
 * invoice's PaymentIntent, then the invoice, then the subscription (the order confirm uses), and re-checks
 * under those locks that the invoice is still open and still the subscription's latest, so two retries at
 * once charge it once. Returns the retried invoice and its status, or null when there is nothing to retry.
 */
export async function retrySandboxInvoice(
  tx: DatabaseOrTransaction,
  providerSubscriptionId: string,
): Promise<{ invoiceId: string; status: "paid" | "open" } | null> {
  const [peek] = await tx
    .select({ invoiceId: sandboxSubscription.latestInvoiceId })
    .from(sandboxSubscription)
    .where(eq(sandboxSubscription.id, providerSubscriptionId));
  if (!peek?.invoiceId) return null;
  const [invoiceRef] = await tx
    .select({ paymentIntentId: sandboxInvoice.paymentIntentId })
    .from(sandboxInvoice)
    .where(eq(sandboxInvoice.id, peek.invoiceId));
  if (!invoiceRef?.paymentIntentId) return null;
  await tx
    .select({ id: sandboxPaymentIntent.id })
    .from(sandboxPaymentIntent)
    .where(eq(sandboxPaymentIntent.id, invoiceRef.paymentIntentId))
    .for("update");
  const [invoice] = await tx
    .select()
    .from(sandboxInvoice)
    .where(eq(sandboxInvoice.id, peek.invoiceId))
    .for("update");
  const [subscription] = await tx
    .select()
    .from(sandboxSubscription)
    .where(eq(sandboxSubscription.id, providerSubscriptionId))
    .for("update");
  if (
    !invoice ||
    !subscription ||
    invoice.status !== "open" ||
    subscription.status !== "past_due" ||
    subscription.latestInvoiceId !== invoice.id
  )
    return null;
  const charged = await chargeSandboxInvoice(tx, invoice, subscription);
  return { invoiceId: invoice.id, status: charged.status };
}

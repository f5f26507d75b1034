import { eq, sql } from "drizzle-orm";
import { sandboxInvoice, sandboxPaymentIntent, sandboxSubscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { sandboxPriceById } from "./sandbox-billing";
import { enqueueSandboxEvent, toStripePaymentIntent } from "./sandbox-events";
import {
  type SandboxInvoiceRow,
  type SandboxSubscriptionRow,
  toStripeInvoice,
  toStripeSubscription,
} from "./sandbox-subscription-events";
import type { CardOutcome } from "./test-cards";

/** The card a payment was made with, as far as the sandbox keeps it: its behaviour and last four digits. */
export type KeptCard = { behavior: string; last4: string };

/**
 * What paying (or failing to pay) a sandbox invoice does besides the PaymentIntent, the way Stripe's
 * invoices behave. Runs in the transaction that confirmed the invoice's PaymentIntent, so the invoice, the
 * subscription and their events change together with the payment.
 *
 * - Paid: the invoice becomes `paid`, the subscription `active` (from `incomplete` or `past_due`), and the
 *   card is kept for renewals; `invoice.paid` (with its payments, so the handler need not ask for the
 *   PaymentIntent) and, when the status moved, `customer.subscription.updated` are written to the outbox.
 * - Declined: the attempt is counted, the invoice stays open and the subscription keeps its status (a
 *   first invoice that fails leaves the subscription `incomplete`); `invoice.payment_failed` is written.
 *   Nothing is granted: only `invoice.paid` grants.
 *
 * Returns the sandbox subscription's id, whose events the caller delivers after the commit.
 */
export async function onSandboxInvoicePayment(
  tx: DatabaseOrTransaction,
  input: { invoiceId: string; outcome: CardOutcome & { kind: "succeeded" | "declined" }; card: KeptCard },
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

  if (input.outcome.kind === "declined") {
    const [failed] = await tx
      .update(sandboxInvoice)
      .set({ attemptCount: sql`${sandboxInvoice.attemptCount} + 1` })
      .where(eq(sandboxInvoice.id, invoice.id))
      .returning();
    if (!failed) throw new Error("sandbox invoice was not updated");
    await enqueueSandboxEvent(
      tx,
      "invoice.payment_failed",
      toStripeInvoice(failed, current),
      failed.paymentIntentId,
      { subscriptionId: current.id },
    );
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
  const becomesActive = current.status === "incomplete" || current.status === "past_due";
  const [subscription] = await tx
    .update(sandboxSubscription)
    .set({
      status: becomesActive ? "active" : current.status,
      cardBehavior: input.card.behavior,
      cardLast4: input.card.last4,
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
  if (subscription.status !== current.status) {
    await enqueueSandboxEvent(
      tx,
      "customer.subscription.updated",
      toStripeSubscription(subscription, await sandboxPriceById(tx, subscription.priceId)),
      null,
      { subscriptionId: subscription.id, previousAttributes: { status: current.status } },
    );
  }
  return { subscriptionId: subscription.id };
}

/**
 * Charges a renewal invoice off-session with the card kept on the subscription, as Stripe does when a
 * period begins: the PaymentIntent succeeds and the invoice is paid (onSandboxInvoicePayment), all in the
 * caller's transaction (which holds the subscription's lock and made the invoice). Returns the invoice's
 * status afterwards. Only cards that succeed are kept so far (a failing first payment keeps no card);
 * anything else is refused rather than charged wrongly.
 */
export async function chargeSandboxInvoice(
  tx: DatabaseOrTransaction,
  invoice: SandboxInvoiceRow,
  subscription: SandboxSubscriptionRow,
): Promise<{ status: string }> {
  if (subscription.cardBehavior !== "succeeds" || !subscription.cardLast4 || !invoice.paymentIntentId)
    throw new Error(`sandbox subscription ${subscription.id} has no card that can be charged`);
  const [intent] = await tx
    .update(sandboxPaymentIntent)
    .set({ status: "succeeded", lastError: null, updatedAt: sql`now()` })
    .where(eq(sandboxPaymentIntent.id, invoice.paymentIntentId))
    .returning();
  if (!intent) throw new Error(`sandbox PaymentIntent ${invoice.paymentIntentId} is missing`);
  await enqueueSandboxEvent(tx, "payment_intent.succeeded", toStripePaymentIntent(intent), intent.id, {
    subscriptionId: subscription.id,
  });
  await onSandboxInvoicePayment(tx, {
    invoiceId: invoice.id,
    outcome: { kind: "succeeded" },
    card: { behavior: subscription.cardBehavior, last4: subscription.cardLast4 },
  });
  return { status: "paid" };
}

import { eq, sql } from "drizzle-orm";
import { sandboxInvoice, sandboxPaymentIntent, sandboxSubscription } from "@/db/schema";
import type { Database } from "@/db/types";
import { CANCELABLE_PAYMENT_INTENT_STATUSES } from "../types";
import { sandboxPriceById } from "./sandbox-billing";
import { enqueueSandboxEvent, toStripePaymentIntent } from "./sandbox-events";
import { toStripeSubscription } from "./sandbox-subscription-events";

/**
 * Ends a sandbox subscription whose first invoice was never paid, as Stripe does 23 hours after it was
 * made (status `incomplete_expired`; Stripe's lifecycle): its first invoice is voided and that invoice's
 * PaymentIntent canceled, so the pay dialog can no longer take money for it; nothing was granted and
 * nothing is taken. `customer.subscription.updated` (and `payment_intent.canceled`) go to the outbox in
 * the same transaction; the caller delivers them.
 *
 * Locks the invoice's PaymentIntent, then the invoice, then the subscription (the order confirm uses), and
 * re-checks under them: a payment that went through first wins, and the subscription is left as it is.
 * Returns true when it expired the subscription, false when it was no longer `incomplete`.
 */
export async function expireIncompleteSandboxSubscription(
  db: Database,
  providerSubscriptionId: string,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [peek] = await tx
      .select({ invoiceId: sandboxSubscription.latestInvoiceId })
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, providerSubscriptionId));
    if (!peek) return false;
    const [invoiceRef] = peek.invoiceId
      ? await tx
          .select({ paymentIntentId: sandboxInvoice.paymentIntentId })
          .from(sandboxInvoice)
          .where(eq(sandboxInvoice.id, peek.invoiceId))
      : [];
    const [intent] = invoiceRef?.paymentIntentId
      ? await tx
          .select()
          .from(sandboxPaymentIntent)
          .where(eq(sandboxPaymentIntent.id, invoiceRef.paymentIntentId))
          .for("update")
      : [];
    if (peek.invoiceId)
      await tx
        .select({ id: sandboxInvoice.id })
        .from(sandboxInvoice)
        .where(eq(sandboxInvoice.id, peek.invoiceId))
        .for("update");
    const [current] = await tx
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, providerSubscriptionId))
      .for("update");
    if (current?.status !== "incomplete") return false;

    if (intent && CANCELABLE_PAYMENT_INTENT_STATUSES.has(intent.status)) {
      const [canceled] = await tx
        .update(sandboxPaymentIntent)
        .set({ status: "canceled", updatedAt: sql`now()` })
        .where(eq(sandboxPaymentIntent.id, intent.id))
        .returning();
      if (canceled)
        await enqueueSandboxEvent(
          tx,
          "payment_intent.canceled",
          toStripePaymentIntent(canceled),
          canceled.id,
          {
            subscriptionId: current.id,
          },
        );
    }
    if (peek.invoiceId)
      await tx.update(sandboxInvoice).set({ status: "void" }).where(eq(sandboxInvoice.id, peek.invoiceId));
    const [expired] = await tx
      .update(sandboxSubscription)
      .set({
        status: "incomplete_expired",
        endedAt: sql`greatest(now(), ${current.clock.toISOString()}::timestamptz)`,
        updatedAt: sql`now()`,
      })
      .where(eq(sandboxSubscription.id, current.id))
      .returning();
    if (!expired) throw new Error("sandbox subscription was not updated");
    await enqueueSandboxEvent(
      tx,
      "customer.subscription.updated",
      toStripeSubscription(expired, await sandboxPriceById(tx, expired.priceId)),
      null,
      { subscriptionId: expired.id, previousAttributes: { status: "incomplete" } },
    );
    return true;
  });
}

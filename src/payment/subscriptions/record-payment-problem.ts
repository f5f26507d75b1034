import { and, eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { subscription, subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { lockSubscriptionForEvent } from "./lock-subscription";

export type PaymentProblemKind = "payment_failed" | "action_required";

/**
 * Records that an invoice of a subscription could not be paid (`invoice.payment_failed`) or waits for the
 * customer to authenticate (`invoice.payment_action_required`), so the app can tell the user
 * (GET /api/credits/subscription's `paymentProblem`). Never touches the ledger: a failed renewal grants
 * nothing and takes nothing; the credits the user has stay until their own expiry.
 *
 * Converges whatever the order and number of deliveries:
 * - an invoice already paid (its `status`, or a grant row of ours for it: `invoice.paid` came first) is
 *   `already_paid`, so a late failure never shows a problem that was solved;
 * - a report older (attemptTime) than the problem recorded is `stale`;
 * - a repeated report writes the same values again (`recorded`): harmless.
 * `invoice.paid` of the same invoice lifts the problem (clearPaymentProblem).
 *
 * The problem's time (`paymentProblemAt`, the summary's `paymentProblem.at`) is the attempt's: attemptTime.
 *
 * Outcomes: `not_a_subscription_invoice`, `already_paid`, `unknown_subscription`, `stale`, `recorded`.
 */
export async function recordPaymentProblem(
  tx: DatabaseOrTransaction,
  event: Stripe.Event,
  kind: PaymentProblemKind,
): Promise<string> {
  const invoice = event.data.object as Stripe.Invoice;
  const details =
    invoice.parent?.type === "subscription_details" ? invoice.parent.subscription_details : null;
  if (!details) return "not_a_subscription_invoice";
  if (invoice.status === "paid") return "already_paid";
  const providerSubscriptionId =
    typeof details.subscription === "string" ? details.subscription : details.subscription.id;
  const customerId = typeof invoice.customer === "string" ? invoice.customer : invoice.customer?.id;
  const log = logger.child({ eventId: event.id, invoiceId: invoice.id, providerSubscriptionId });

  const row = await lockSubscriptionForEvent(tx, {
    providerSubscriptionId,
    ourId: details.metadata?.subscriptionId,
    customerId,
  });
  if (!row) {
    log.warn({ metadata: details.metadata }, `${event.type} for a subscription that is not ours: ignored`);
    return "unknown_subscription";
  }
  // Under the subscription's lock, which invoice.paid takes too: a paid invoice has its grant rows by now.
  const [granted] = await tx
    .select({ invoiceId: subscriptionPeriodGrant.invoiceId })
    .from(subscriptionPeriodGrant)
    .where(eq(subscriptionPeriodGrant.invoiceId, invoice.id))
    .limit(1);
  if (granted) return "already_paid";
  const at = attemptTime(event, invoice);
  if (row.paymentProblemAt && at.getTime() < row.paymentProblemAt.getTime()) return "stale";

  await tx
    .update(subscription)
    .set({
      paymentProblem: kind,
      paymentProblemInvoiceId: invoice.id,
      paymentProblemAt: at,
      // Where the customer completes the payment at the provider (Stripe's hosted invoice page).
      paymentActionUrl: kind === "action_required" ? (invoice.hosted_invoice_url ?? null) : null,
      updatedAt: sql`now()`,
    })
    .where(eq(subscription.id, row.id));
  log.info(
    { subscriptionId: row.id, userId: row.userId, kind, attemptCount: invoice.attempt_count },
    "subscription payment problem recorded",
  );
  return "recorded";
}

/**
 * When the failed (or waiting) attempt to pay `invoice` was made: the event's `created`, the time Stripe
 * reports the attempt, but never before the invoice was finalized (`status_transitions.finalized_at`; no
 * attempt precedes finalization). At Stripe the two agree (the event comes at or after finalization). In
 * the sandbox the invoice lives on the subscription's test clock, which runs ahead of the real one, while
 * its events are stamped with the real time: there the finalization is the attempt's time on that clock
 * (the renewal is charged when it is finalized, and a retry happens with the clock standing still), so a
 * failed renewal is dated when it failed as the user sees time on the page, not when the button was pressed.
 */
function attemptTime(event: Stripe.Event, invoice: Stripe.Invoice): Date {
  const finalizedAt = invoice.status_transitions?.finalized_at ?? null;
  return new Date(Math.max(event.created, finalizedAt ?? 0) * 1000);
}

/**
 * Lifts the payment problem of a subscription when the invoice it is about has been paid (a retry went
 * through). A problem of another invoice stays. Call it under the subscription's lock.
 */
export async function clearPaymentProblem(
  tx: DatabaseOrTransaction,
  subscriptionId: string,
  invoiceId: string,
): Promise<boolean> {
  const cleared = await tx
    .update(subscription)
    .set({
      paymentProblem: null,
      paymentProblemInvoiceId: null,
      paymentActionUrl: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(subscription.id, subscriptionId), eq(subscription.paymentProblemInvoiceId, invoiceId)))
    .returning({ id: subscription.id });
  return cleared.length > 0;
}

import { eq } from "drizzle-orm";
import { z } from "zod";
import { creditPurchase, subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import {
  adoptExternalSubscription,
  SubscriptionNotAdoptableError,
} from "../subscriptions/adopt-external-subscription";
import { findPurchaseByPaymentIntentId, type PurchaseRow, updatePurchase } from "./purchase-lookup";
import type { WebhookContext } from "./types";

const ourIdSchema = z.uuid();

/**
 * The purchase a refund or dispute event is about, locked (FOR UPDATE), found by the PaymentIntent it
 * names; undefined when the PaymentIntent is none of ours.
 *
 * A package's purchase exists before its PaymentIntent can be refunded (created with the pay dialog), so a
 * refund or dispute that arrives before `payment_intent.succeeded` records its facts on the pending
 * purchase, and the grant settles the clawback in its own transaction. A subscription invoice's purchase
 * is recorded by `invoice.paid`, which can come days after a refund of the same invoice (it was refused
 * once, say, and waits for Stripe's retry while the merchant refunds in the Dashboard). Answering such a
 * refund "unknown" would drop it for good, and the late `invoice.paid` would grant the whole period for
 * money the customer has back. So when no purchase has the PaymentIntent, the provider is asked which
 * subscription invoice it paid (retrieveInvoiceOfPayment), and a pending purchase is recorded for that
 * invoice, the same mechanism packages use: the event's facts go on it, nothing is clawed back yet
 * (`awaiting_grant`: nothing was granted), and `invoice.paid` later completes that purchase, grants, and
 * settles the clawback in its transaction (invoice-purchase.ts). Retrying instead (a 5xx) would not do:
 * Stripe gives up after three days, and an `invoice.paid` refused for longer must still meet the refund.
 *
 * The provider is asked before any row of this purchase is locked; an unreachable provider fails the event
 * (PaymentProviderUnavailableError), which Stripe retries. Concurrent events of the same PaymentIntent
 * insert the pending purchase once (its `payment_intent_id` and `invoice_id` are unique) and then queue on
 * its row lock; an `invoice.paid` recording the purchase at the same moment wins the insert, and the
 * event then finds its purchase. The pending purchase takes no lock on the ledger account, so the lock
 * order (customer, subscription, purchase, account) holds.
 *
 * A subscription started outside the app (no row for it, no `subscriptionId` in its metadata) is adopted
 * here when it is plainly ours (adopt-external-subscription.ts, with the provider's current object, as
 * its `invoice.paid` would adopt it), so its refunds and disputes are kept like any other; the later
 * `invoice.paid` and `customer.subscription.created` find the adopted row. One that is not adoptable is
 * answered as before (undefined: not ours). `event`: the refund or dispute event (id, and `created` in
 * Unix seconds, the time the adopted state is applied as of).
 */
export async function findPurchaseOfPayment(
  tx: DatabaseOrTransaction,
  paymentIntentId: string | undefined,
  context: WebhookContext | undefined,
  event: { id: string; created: number },
): Promise<PurchaseRow | undefined> {
  const eventId = event.id;
  if (!paymentIntentId) return undefined;
  const found = await findPurchaseByPaymentIntentId(tx, paymentIntentId);
  if (found || !context?.provider) return found;
  const invoice = await context.provider().retrieveInvoiceOfPayment(paymentIntentId, tx);
  if (!invoice) return undefined;
  const [linked] = await tx
    .select()
    .from(subscription)
    .where(eq(subscription.providerSubscriptionId, invoice.providerSubscriptionId));
  const ourId = ourIdSchema.safeParse(invoice.ourSubscriptionId);
  const [claimed] =
    linked || !ourId.success
      ? []
      : await tx.select().from(subscription).where(eq(subscription.id, ourId.data));
  // A row made for this provider subscription, or not linked to any yet (its metadata names it).
  const row =
    linked ??
    (invoice.ourSubscriptionId === null
      ? await adoptedForEarlyPayment(tx, invoice, context, event)
      : undefined) ??
    (claimed &&
    (claimed.providerSubscriptionId === null ||
      claimed.providerSubscriptionId === invoice.providerSubscriptionId)
      ? claimed
      : undefined);
  if (!row || !(invoice.amountPaid > 0)) return undefined;
  await tx
    .insert(creditPurchase)
    .values({
      userId: row.userId,
      kind: "subscription_invoice",
      packageId: row.planId,
      subscriptionId: row.id,
      invoiceId: invoice.invoiceId,
      // What the invoice entitles to is known when `invoice.paid` is applied, which sets these; until then
      // nothing is granted, so the purchase records 0 (never a guess from the plan: an invoice may grant
      // nothing at all) and nothing can be clawed back.
      credits: 0,
      creditsIssued: 0,
      amount: invoice.amountPaid,
      currency: invoice.currency,
      provider: row.provider,
      status: "pending",
      paymentIntentId,
    })
    .onConflictDoNothing();
  logger.info(
    { eventId, paymentIntentId, invoiceId: invoice.invoiceId, subscriptionId: row.id, userId: row.userId },
    "refund or dispute of a subscription invoice before its invoice.paid: recorded on a pending purchase",
  );
  const purchase = await findPurchaseByPaymentIntentId(tx, paymentIntentId);
  if (purchase) return purchase;
  // The invoice's purchase was recorded without its PaymentIntent (the provider could not tell it then):
  // this event names it, so the purchase learns it and its refunds and disputes are matched from now on.
  const [unmatched] = await tx
    .select()
    .from(creditPurchase)
    .where(eq(creditPurchase.invoiceId, invoice.invoiceId))
    .for("update");
  if (!unmatched || unmatched.paymentIntentId !== null) return undefined;
  await updatePurchase(tx, unmatched.id, { paymentIntentId });
  return { ...unmatched, paymentIntentId };
}

/**
 * The row of a subscription started outside the app, adopted now because a refund or dispute of its
 * invoice came before its `customer.subscription.created` and `invoice.paid`: dropping that event would let
 * the late `invoice.paid` grant a whole period for money the customer has back. Undefined when the provider
 * does not know the subscription or it is not adoptable (SubscriptionNotAdoptableError: not ours).
 */
async function adoptedForEarlyPayment(
  tx: DatabaseOrTransaction,
  invoice: { invoiceId: string; providerSubscriptionId: string },
  context: WebhookContext,
  event: { id: string; created: number },
) {
  const object = await context.provider?.().retrieveSubscription(invoice.providerSubscriptionId, tx);
  if (!object) return undefined;
  try {
    const adoption = await adoptExternalSubscription(tx, object, new Date(event.created * 1000), {
      eventId: event.id,
      invoiceId: invoice.invoiceId,
    });
    return adoption.row;
  } catch (error) {
    if (error instanceof SubscriptionNotAdoptableError) return undefined;
    throw error;
  }
}

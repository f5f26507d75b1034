import type Stripe from "stripe";
import { packageName } from "@/catalog/packages";
import { addCredits } from "@/credits/add-credits";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { purchaseMetadataSchema } from "../types";
import { findPurchaseForPaymentIntent, type PurchaseRow, updatePurchase } from "./purchase-lookup";
import type { WebhookHandler } from "./types";

/**
 * The only place a purchase turns into credits: the grant's idempotency key is the PaymentIntent id, in
 * creditkit's own key namespace so no caller's key can take it first.
 */
export function purchaseGrantKey(paymentIntentId: string): InternalKey {
  return internalKey("payment_intent", paymentIntentId);
}

export const handlePaymentIntentSucceeded: WebhookHandler = async (tx, event, context) => {
  const intent = event.data.object as Stripe.PaymentIntent;
  const log = logger.child({ eventId: event.id, paymentIntentId: intent.id });
  const purchase = await findPurchaseForPaymentIntent(tx, intent);
  if (!purchase && typeof intent.metadata?.invoiceId === "string") {
    // An invoice's payment (a subscription's): its credits come with `invoice.paid`, never from here.
    log.info(
      { invoiceId: intent.metadata.invoiceId },
      "payment_intent.succeeded of an invoice: nothing to do",
    );
    return "invoice_payment";
  }
  if (purchase?.kind === "subscription_invoice") {
    // The invoice was paid and recorded as a purchase first (events arrive in any order): its credits came
    // with `invoice.paid`; this PaymentIntent grants nothing and checks nothing of a package's.
    log.info({ invoiceId: purchase.invoiceId }, "payment_intent.succeeded of a recorded invoice");
    return "invoice_payment";
  }
  if (!purchase) {
    log.warn(
      { metadata: intent.metadata },
      "payment_intent.succeeded for an unknown PaymentIntent: nothing granted",
    );
    const claimed = purchaseMetadataSchema.safeParse(intent.metadata);
    if (claimed.success) {
      // The metadata names a purchase of ours that does not own this PaymentIntent: flag it for review.
      await updatePurchase(tx, claimed.data.purchaseId, {
        flaggedReason: `payment_intent.succeeded from unrelated PaymentIntent ${intent.id}`,
      });
    }
    return "unknown_payment_intent";
  }

  // Everything the customer paid must match what the server sold; anything else needs a human.
  const metadata = purchaseMetadataSchema.safeParse(intent.metadata);
  const problems: string[] = [];
  if (intent.amount_received !== purchase.amount) {
    problems.push(`amount_received ${intent.amount_received} != ${purchase.amount}`);
  }
  // `currency` is read defensively: a payload without one (a changed shape, a hand-made event) is a
  // mismatch a human looks at, not a crash that would be retried for three days.
  const currency = typeof intent.currency === "string" ? intent.currency.toLowerCase() : null;
  if (currency !== purchase.currency) problems.push(`currency ${currency} != ${purchase.currency}`);
  if (!metadata.success) problems.push("metadata is missing or malformed");
  else if (
    metadata.data.purchaseId !== purchase.id ||
    metadata.data.userId !== purchase.userId ||
    metadata.data.packageId !== purchase.packageId
  ) {
    problems.push("metadata does not match the purchase");
  }
  if (problems.length > 0) {
    const reason = problems.join("; ");
    log.error(
      { purchaseId: purchase.id, userId: purchase.userId, reason },
      "payment does not match its purchase: nothing granted",
    );
    await updatePurchase(tx, purchase.id, { status: "requires_review", flaggedReason: reason });
    return "mismatch_flagged";
  }

  // A purchase marked abandoned (its pay dialog left open for a day) is granted like any other: the
  // customer came back and paid.
  if (purchase.status === "abandoned") {
    log.info({ purchaseId: purchase.id }, "payment arrived for a purchase marked abandoned");
  }
  // A redelivery finds the grant recorded on the purchase and changes nothing. `grant_entry_id` is written
  // only here, in the grant's own transaction and under the purchase's row lock (taken by the look-up
  // above, which keeps concurrent deliveries of this PaymentIntent one after another; a delivery that
  // waited for the lock reads the row as the first one left it), so it is set exactly when the grant
  // exists. Reading it from the locked row, rather than letting the grant replay by its key, means a
  // detail that may change between deliveries (the package's display name in the description) can never
  // turn a redelivered event into an idempotency conflict, and a new payment costs no extra round trip.
  const grantKey = purchaseGrantKey(intent.id);
  const grant =
    purchase.grantEntryId != null
      ? { entryId: purchase.grantEntryId, replayed: true }
      : await grantPurchase(tx, purchase, intent.id, grantKey, context?.now);
  await updatePurchase(tx, purchase.id, {
    status: "succeeded",
    grantEntryId: grant.entryId,
    failureCode: null,
    failureMessage: null,
  });
  log.info(
    { purchaseId: purchase.id, userId: purchase.userId, entryId: grant.entryId, credits: purchase.credits },
    grant.replayed ? "purchase was already credited" : "purchase credited",
  );
  // A refund or dispute that arrived before this event is applied now, so any order converges. The row is
  // locked since the look-up, so when it records no refund or dispute there is nothing to settle.
  const hasClawback = purchase.amountRefunded > 0 || purchase.disputed || purchase.clawedBackCredits > 0;
  const clawback = hasClawback ? await settlePurchaseClawback(tx, purchase.id, context?.now) : "settled";
  const outcome = grant.replayed ? "already_granted" : "granted";
  return clawback === "settled" ? outcome : `${outcome}+${clawback}`;
};

function grantPurchase(
  tx: DatabaseOrTransaction,
  purchase: PurchaseRow,
  paymentIntentId: string,
  key: InternalKey,
  now: Date | undefined,
) {
  return addCredits(
    tx,
    {
      userId: purchase.userId,
      amount: purchase.credits,
      type: "purchase",
      description: `Purchased ${packageName({ id: purchase.packageId })} package`,
      idempotencyKey: key,
      reference: paymentIntentId,
      purchaseId: purchase.id,
      ...(purchase.expireDays ? { expireDays: purchase.expireDays } : {}),
      metadata: { purchaseId: purchase.id, packageId: purchase.packageId },
    },
    now,
  );
}

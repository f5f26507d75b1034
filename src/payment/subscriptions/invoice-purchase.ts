import { and, eq, inArray, or, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { disputedAmount } from "@/credits/purchase-clawback-rules";
import { creditLot, creditPurchase, subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { disputesOf } from "../record-dispute-facts";
import { updateRefundedAmount } from "../record-refund-facts";
import { settlePurchaseClawback } from "../settle-purchase-clawback";
import { type PurchaseRow, updatePurchase } from "../webhooks/purchase-lookup";
import type { SubscriptionRow } from "./lock-subscription";

/**
 * The PaymentIntent that paid an invoice: the default `payment_intent` payment of the invoice's
 * `payments` (API 2025-03-31 and later moved it there from `invoice.payment_intent`). Present when the
 * event's invoice includes its payments (the sandbox's `invoice.paid` does); undefined otherwise.
 */
export function paymentIntentOfInvoice(invoice: Stripe.Invoice): string | undefined {
  const payments = invoice.payments?.data ?? [];
  const paid = payments.find((payment) => payment.status === "paid") ?? payments.find((p) => p.is_default);
  const intent = paid?.payment?.type === "payment_intent" ? paid.payment.payment_intent : undefined;
  return typeof intent === "string" ? intent : intent?.id;
}

/** Grant rows that entitle to credits: granted now, or a yearly slot still to come. */
const ENTITLING_STATUSES = ["granted", "scheduled"];

/**
 * Records a paid subscription invoice as a purchase (credit_purchase, kind `subscription_invoice`), so its
 * refunds and disputes take back that invoice's credits by the rules packages follow
 * (settle-purchase-clawback.ts: the refunded or disputed share of the price, rounded down, capped at the
 * credits that have not expired unused, with debt for credits already spent).
 *
 * Called by `invoice.paid` (in its transaction, the subscription locked) after every line's grant rows
 * (subscription_period_grant) are written. The purchase's
 * - `credits`: what the invoice's rows entitle to, in credits (a yearly invoice's twelve slots included);
 * - `creditsIssued`: what they have granted so far (null when all was granted at once);
 * - `amount`: the invoice's `amount_paid` (minor units), `currency` its currency;
 * - `paymentIntentId`: the PaymentIntent that paid it (paymentIntentOfInvoice), which refund and dispute
 *   events name; the rows' lots are linked to the purchase (`credit_lot.purchase_id`).
 *
 * - `packageId`: the plan the invoice's rows bought most of, else `linePlanId` (the plan of the invoice's
 *   own lines, for an invoice that grants nothing), else the subscription's.
 *
 * Once per invoice: the purchase's `invoice_id` is unique and the insert does nothing on a redelivery.
 * Returns `purchase_recorded`, `purchase_already_recorded`, or null when the invoice took no money. An
 * invoice that took money but granted no credits is recorded with `credits` 0, its true figure (refundable
 * by Admin; a refund takes nothing back), and completes a pending purchase the same way (the refund facts
 * kept, nothing to take back). A trial's $0 invoice is never a purchase: it has no PaymentIntent and nothing to refund, and its credits are
 * `promotional` (grant-trial-credits.ts); verify checks that no trial grant is linked to one.
 */
export async function recordInvoicePurchase(
  tx: DatabaseOrTransaction,
  input: { subscription: SubscriptionRow; invoice: Stripe.Invoice; linePlanId?: string },
  now?: Date,
): Promise<string | null> {
  const { subscription, invoice } = input;
  // Nothing was paid (a trial's $0 invoice, a 100% coupon): nothing to refund, no PaymentIntent to match.
  if (!(invoice.amount_paid > 0)) return null;
  const rows = await tx
    .select()
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.invoiceId, invoice.id),
        eq(subscriptionPeriodGrant.subscriptionId, subscription.id),
        inArray(subscriptionPeriodGrant.status, ENTITLING_STATUSES),
      ),
    );
  // What the invoice's rows entitle to: its true figure, 0 for an invoice that took money but grants
  // nothing (a proration-only or downgrade invoice, a change whose level was already reached). Such an
  // invoice is still a purchase: the money is real, so Admin can refund it like any other, and its refund
  // takes back nothing (a share of 0 credits). A refund or dispute that came first completes its pending
  // purchase the same way, or the payment maintenance (settle-pending-invoice-purchases.ts) would ask the
  // provider about it on every run.
  const credits = rows.reduce((sum, row) => sum + row.credits, 0);
  const issued = rows.filter((row) => row.status === "granted").reduce((sum, row) => sum + row.credits, 0);
  // The plan the invoice bought most credits of (an upgrade's invoice: the new plan); for an invoice
  // that grants nothing, the plan of its own lines (input.linePlanId), the subscription's only as a last
  // resort: never the plan the subscription has moved to since.
  const planId =
    [...rows].sort((a, b) => b.credits - a.credits)[0]?.planId ?? input.linePlanId ?? subscription.planId;
  const paymentIntentId = paymentIntentOfInvoice(invoice);
  if (!paymentIntentId)
    // Without its PaymentIntent no refund or dispute event can find the invoice: recorded anyway (the
    // credits and the money are real), and logged so an operator knows refunds of it need a hand.
    logger.warn(
      { invoiceId: invoice.id, subscriptionId: subscription.id },
      "paid invoice without its payment: its refunds cannot be matched",
    );
  const values = {
    kind: "subscription_invoice",
    packageId: planId,
    subscriptionId: subscription.id,
    invoiceId: invoice.id,
    credits,
    creditsIssued: issued === credits ? null : issued,
    amount: invoice.amount_paid,
    currency: invoice.currency,
    provider: subscription.provider,
    status: "succeeded",
    paymentIntentId: paymentIntentId ?? null,
  };
  const [inserted] = await tx
    .insert(creditPurchase)
    .values({ userId: subscription.userId, ...values })
    .onConflictDoNothing()
    .returning({ id: creditPurchase.id });
  const pending = inserted ? undefined : await pendingInvoicePurchase(tx, invoice.id, paymentIntentId);
  if (!inserted && !pending) return "purchase_already_recorded";
  if (pending && pending.userId !== subscription.userId) {
    logger.error(
      { invoiceId: invoice.id, purchaseId: pending.id, userId: subscription.userId },
      "the invoice's pending purchase belongs to another user: left as it is",
    );
    return "purchase_already_recorded";
  }
  const purchase = inserted ?? { id: (pending as PurchaseRow).id };
  // An invoice that granted nothing completes its pending purchase with its true figure, 0 credits (an
  // invoice purchase may record 0: credit_purchase_credits_positive): Admin shows what the money bought,
  // nothing can be clawed back (a refund's share of 0 is 0), and the refund facts stay for Admin.
  if (pending) {
    // A refund or dispute of this invoice came first and recorded its facts on a pending purchase
    // (purchase-of-payment.ts): it becomes the invoice's purchase now, with what the invoice granted.
    await updatePurchase(tx, pending.id, {
      ...values,
      // The refund facts stay; the refunded amount is derived again against the invoice's amount below.
      amountRefunded: Math.min(pending.amountRefunded, values.amount),
    });
  }
  const lotIds = rows.flatMap((row) => (row.lotId ? [row.lotId] : []));
  if (lotIds.length > 0)
    await tx.update(creditLot).set({ purchaseId: purchase.id }).where(inArray(creditLot.id, lotIds));
  await tx
    .update(subscriptionPeriodGrant)
    .set({ purchaseId: purchase.id })
    .where(eq(subscriptionPeriodGrant.invoiceId, invoice.id));
  if (!pending) return "purchase_recorded";
  // The facts the early events recorded are settled now, in the grant's transaction: the customer never
  // holds the credits of money they were given back.
  await updateRefundedAmount(tx, {
    ...pending,
    ...values,
    amountRefunded: Math.min(pending.amountRefunded, values.amount),
  });
  const settled = await settlePurchaseClawback(tx, pending.id, now);
  return `purchase_recorded_after_refund_or_dispute:${settled}`;
}

/**
 * The purchase a refund or dispute recorded for this invoice before its `invoice.paid`
 * (purchase-of-payment.ts: recorded `pending`), locked; undefined when the invoice's purchase is already
 * complete (`succeeded`).
 */
async function pendingInvoicePurchase(
  tx: DatabaseOrTransaction,
  invoiceId: string,
  paymentIntentId: string | undefined,
): Promise<PurchaseRow | undefined> {
  const [row] = await tx
    .select()
    .from(creditPurchase)
    .where(
      paymentIntentId
        ? or(eq(creditPurchase.invoiceId, invoiceId), eq(creditPurchase.paymentIntentId, paymentIntentId))
        : eq(creditPurchase.invoiceId, invoiceId),
    )
    .for("update");
  // Any status but `succeeded`: none of the paths that mark a package's purchase failed, canceled or
  // abandoned may keep an invoice's refund facts from being settled when it is paid.
  return row && row.status !== "succeeded" && row.kind === "subscription_invoice" ? row : undefined;
}

/**
 * Locks the purchase of a paid invoice (FOR UPDATE), or finds none (a $0 invoice). The `subscription-credits`
 * job takes this lock before it grants a yearly slot, so the order of locks is the one every purchase path
 * keeps (purchase, then the ledger account): a refund event settling the same purchase waits, never deadlocks.
 */
export async function lockInvoicePurchase(
  tx: DatabaseOrTransaction,
  invoiceId: string,
): Promise<typeof creditPurchase.$inferSelect | undefined> {
  const [purchase] = await tx
    .select()
    .from(creditPurchase)
    .where(eq(creditPurchase.invoiceId, invoiceId))
    .for("update");
  return purchase;
}

/**
 * A yearly slot of a paid invoice was granted later (by the `subscription-credits` job): its credits count
 * as issued on the invoice's purchase (`creditsIssued`, never above `credits`), its lot is linked to the
 * purchase, and the purchase's clawback is settled again, so a partial refund takes its share of each slot
 * as the slot arrives (`clawbackTarget` of the issued credits). Call it in the slot's transaction, after
 * lockInvoicePurchase. Does nothing for an invoice without a purchase (it took no money).
 */
export async function noteSlotIssued(
  tx: DatabaseOrTransaction,
  input: { invoiceId: string; credits: number; lotId: string },
  now?: Date,
): Promise<void> {
  const purchase = await lockInvoicePurchase(tx, input.invoiceId);
  if (!purchase) return;
  await tx
    .update(creditPurchase)
    .set({
      creditsIssued: sql`least(${creditPurchase.credits}, coalesce(${creditPurchase.creditsIssued}, 0) + ${input.credits})`,
      updatedAt: sql`now()`,
    })
    .where(eq(creditPurchase.id, purchase.id));
  await tx.update(creditLot).set({ purchaseId: purchase.id }).where(eq(creditLot.id, input.lotId));
  await tx
    .update(subscriptionPeriodGrant)
    .set({ purchaseId: purchase.id })
    .where(eq(subscriptionPeriodGrant.lotId, input.lotId));
  if (purchase.amountRefunded > 0 || purchase.disputed || purchase.clawedBackCredits > 0)
    await settlePurchaseClawback(tx, purchase.id, now);
}

/**
 * Where a paid invoice's money stands, for the yearly slots not yet issued:
 * - `returned`: it went back to the customer in full for good (refunds, and disputes lost, together at
 *   least the amount paid). The slots are stopped: the customer paid nothing for them any more.
 * - `disputed`: it is out of the merchant's hands only while a dispute is still open (funds withdrawn, not
 *   yet lost). The slots are left `scheduled`: a dispute the merchant wins gives the money back, and the
 *   customer then paid for every month of the year; stopping them now would take months for good on an
 *   outcome not yet known. Nothing is granted meanwhile either: the funds are withdrawn.
 * - `kept`: anything else (a partial refund leaves the slots to come, each losing its refunded share,
 *   noteSlotIssued). Also for an invoice without a purchase.
 */
export type InvoiceMoneyState = "kept" | "disputed" | "returned";

/** See InvoiceMoneyState. Reads the invoice's purchase and its disputes in the caller's transaction. */
export async function invoiceMoneyState(
  tx: DatabaseOrTransaction,
  invoiceId: string,
): Promise<InvoiceMoneyState> {
  const [purchase] = await tx.select().from(creditPurchase).where(eq(creditPurchase.invoiceId, invoiceId));
  if (!purchase) return "kept";
  const disputes = await disputesOf(tx, purchase.id);
  // A lost dispute is final (an appeal reopens it under another status); every other withdrawal may
  // still come back.
  const lost = disputes
    .filter((dispute) => dispute.status === "lost")
    .reduce((sum, dispute) => sum + dispute.amount, 0);
  if (purchase.amountRefunded + lost >= purchase.amount) return "returned";
  if (purchase.amountRefunded + disputedAmount(disputes) >= purchase.amount) return "disputed";
  return "kept";
}

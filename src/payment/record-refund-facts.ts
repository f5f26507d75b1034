import { eq } from "drizzle-orm";
import {
  isFailedRefundStatus,
  isKnownRefundStatus,
  type RefundFact,
  refundedAmount,
  refundStatusRank,
} from "@/credits/purchase-clawback-rules";
import { creditRefund } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "./types";
import { type PurchaseRow, updatePurchase } from "./webhooks/purchase-lookup";

/**
 * The facts refunds are decided from, recorded on a purchase whose row lock the caller holds (so events of
 * one purchase apply one after another). Each fact is kept only when it is newer than what is recorded, by
 * the event's `created` time: a late, older event changes nothing, and a repeated one neither.
 */

/** Stripe's `created`, in seconds, as the time a fact was true. */
export function eventTime(createdSeconds: number): Date {
  return new Date(createdSeconds * 1000);
}

/**
 * The charge's cumulative `amount_refunded` (minor units) as a `charge.refunded` event reports it. At equal
 * event times the larger figure wins, so the choice does not depend on delivery order.
 */
export async function recordChargeRefunded(
  tx: DatabaseOrTransaction,
  purchase: PurchaseRow,
  amountRefunded: number,
  at: Date,
): Promise<PurchaseRow> {
  const current = purchase.chargeRefundedAt;
  const newer =
    current === null ||
    at > current ||
    (at.getTime() === current.getTime() && amountRefunded > purchase.chargeAmountRefunded);
  if (!newer) return purchase;
  const values = { chargeAmountRefunded: amountRefunded, chargeRefundedAt: at };
  await updatePurchase(tx, purchase.id, values);
  return { ...purchase, ...values };
}

/**
 * One refund's status (`pending`, `requires_action`, `succeeded`, `failed`, `canceled`) and amount as a
 * Refund object reports it, with the refund's own `created` time (seconds, when the object carries it). At
 * equal event times the later stage wins (a failure after success). The earliest event time that reported
 * it failed is kept apart from its newest status: it says from when on the charge's figure left it out.
 *
 * Throws UnknownEventValueError for a status this code does not know: guessing whether it counts could
 * give or take credits wrongly; failing the event keeps it in front of the operator (stored, counted by
 * `verify`) and retried until the code knows it.
 */
export async function recordRefundStatus(
  tx: DatabaseOrTransaction,
  purchase: PurchaseRow,
  refund: { id: string; amount: number; status: string; created?: number | null },
  at: Date,
): Promise<void> {
  if (!isKnownRefundStatus(refund.status)) {
    throw new UnknownEventValueError(`Refund ${refund.id} has a status this code does not know.`, {
      purchaseId: purchase.id,
      refundId: refund.id,
      status: refund.status,
    });
  }
  const refundCreatedAt = typeof refund.created === "number" ? eventTime(refund.created) : null;
  const failedAt = isFailedRefundStatus(refund.status) ? at : null;
  const [existing] = await tx.select().from(creditRefund).where(eq(creditRefund.refundId, refund.id));
  if (!existing) {
    await tx.insert(creditRefund).values({
      refundId: refund.id,
      purchaseId: purchase.id,
      amount: refund.amount,
      status: refund.status,
      statusAt: at,
      refundCreatedAt,
      failedAt,
    });
    return;
  }
  const newer =
    at > existing.statusAt ||
    (at.getTime() === existing.statusAt.getTime() &&
      refundStatusRank(refund.status) > refundStatusRank(existing.status));
  const earlierFailure =
    failedAt !== null && (existing.failedAt === null || failedAt < existing.failedAt) ? failedAt : null;
  const learnedCreated = existing.refundCreatedAt === null && refundCreatedAt !== null;
  if (!newer && !earlierFailure && !learnedCreated) return;
  await tx
    .update(creditRefund)
    .set({
      ...(newer ? { amount: refund.amount, status: refund.status, statusAt: at } : {}),
      ...(earlierFailure ? { failedAt: earlierFailure } : {}),
      ...(learnedCreated ? { refundCreatedAt } : {}),
      updatedAt: new Date(),
    })
    .where(eq(creditRefund.refundId, refund.id));
}

/** Recomputes the purchase's refunded amount from every recorded fact and stores it. */
export async function updateRefundedAmount(
  tx: DatabaseOrTransaction,
  purchase: PurchaseRow,
): Promise<number> {
  const refunds: RefundFact[] = await tx
    .select({
      amount: creditRefund.amount,
      status: creditRefund.status,
      statusAt: creditRefund.statusAt,
      refundCreatedAt: creditRefund.refundCreatedAt,
      failedAt: creditRefund.failedAt,
    })
    .from(creditRefund)
    .where(eq(creditRefund.purchaseId, purchase.id));
  const amount = refundedAmount({
    price: purchase.amount,
    chargeAmountRefunded: purchase.chargeAmountRefunded,
    chargeRefundedAt: purchase.chargeRefundedAt,
    refunds,
  });
  if (amount !== purchase.amountRefunded) await updatePurchase(tx, purchase.id, { amountRefunded: amount });
  return amount;
}

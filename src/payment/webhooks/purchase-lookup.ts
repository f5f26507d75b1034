import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { creditPurchase } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type PurchaseRow = typeof creditPurchase.$inferSelect;

/** Finds the purchase a PaymentIntent belongs to and locks it, so concurrent events for it queue up. */
export async function findPurchaseForPaymentIntent(
  tx: DatabaseOrTransaction,
  intent: Stripe.PaymentIntent,
): Promise<PurchaseRow | undefined> {
  return findPurchaseByPaymentIntentId(tx, intent.id);
}

/** A PaymentIntent reference on a charge or dispute: an id, an expanded object, or nothing. */
export function paymentIntentIdOf(reference: string | { id: string } | null | undefined): string | undefined {
  if (!reference) return undefined;
  return typeof reference === "string" ? reference : reference.id;
}

export async function findPurchaseByPaymentIntentId(
  tx: DatabaseOrTransaction,
  paymentIntentId: string,
): Promise<PurchaseRow | undefined> {
  const [purchase] = await tx
    .select()
    .from(creditPurchase)
    .where(eq(creditPurchase.paymentIntentId, paymentIntentId))
    .for("update");
  return purchase;
}

export async function updatePurchase(
  tx: DatabaseOrTransaction,
  purchaseId: string,
  values: Partial<Omit<PurchaseRow, "id" | "userId" | "createdAt">>,
): Promise<void> {
  await tx
    .update(creditPurchase)
    .set({ ...values, updatedAt: sql`now()` })
    .where(eq(creditPurchase.id, purchaseId));
}

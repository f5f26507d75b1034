import { and, eq, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { creditPurchase } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { purchaseMetadataSchema } from "../types";

export type PurchaseRow = typeof creditPurchase.$inferSelect;

/** Finds the purchase a PaymentIntent belongs to and locks it, so concurrent events for it queue up. */
export async function findPurchaseForPaymentIntent(
  tx: DatabaseOrTransaction,
  intent: Stripe.PaymentIntent,
): Promise<PurchaseRow | undefined> {
  const purchase = await findPurchaseByPaymentIntentId(tx, intent.id);
  if (purchase) return purchase;
  // The PaymentIntent was created but saving its id on the purchase failed: adopt it by its metadata,
  // but only onto a purchase of the same user that has no PaymentIntent yet.
  const claimed = purchaseMetadataSchema.safeParse(intent.metadata);
  if (!claimed.success) return undefined;
  const [orphan] = await tx
    .select()
    .from(creditPurchase)
    .where(
      and(
        eq(creditPurchase.id, claimed.data.purchaseId),
        eq(creditPurchase.userId, claimed.data.userId),
        isNull(creditPurchase.paymentIntentId),
      ),
    )
    .for("update");
  if (!orphan) return undefined;
  await updatePurchase(tx, orphan.id, { paymentIntentId: intent.id });
  return { ...orphan, paymentIntentId: intent.id };
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

import { desc, eq } from "drizzle-orm";
import { creditPurchase, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { amountsCreditedByProration, refundableAmount } from "@/payment/subscriptions/proration-credits";

/** Recent purchases across all users, optionally by status: where refunds and flagged payments are handled. */
export async function listPurchases(
  db: DatabaseOrTransaction,
  input: { status?: string; limit?: number } = {},
) {
  const rows = await db
    .select({ purchase: creditPurchase, email: user.email })
    .from(creditPurchase)
    .innerJoin(user, eq(user.id, creditPurchase.userId))
    .where(input.status ? eq(creditPurchase.status, input.status) : undefined)
    .orderBy(desc(creditPurchase.createdAt))
    .limit(Math.min(input.limit ?? 50, 200));
  const credited = await amountsCreditedByProration(
    db,
    rows.map(({ purchase }) => purchase.invoiceId),
  );
  return rows.map(({ purchase, email }) => ({
    ...purchaseView(purchase, credited),
    userId: purchase.userId,
    email,
  }));
}

/**
 * A purchase as the admin console shows it (amounts in minor units, credits as integers, times as ISO text).
 * `credited` holds what later prorations credited back against invoices (amountsCreditedByProration), so
 * `refundable` is what an admin may still refund (refund-purchase.ts applies the same cap).
 */
export function purchaseView(
  purchase: typeof creditPurchase.$inferSelect,
  credited: ReadonlyMap<string, number> = new Map(),
) {
  const creditedByProration = purchase.invoiceId ? (credited.get(purchase.invoiceId) ?? 0) : 0;
  return {
    id: purchase.id,
    kind: purchase.kind,
    packageId: purchase.packageId,
    credits: purchase.credits,
    amount: purchase.amount,
    currency: purchase.currency,
    status: purchase.status,
    provider: purchase.provider,
    paymentIntentId: purchase.paymentIntentId,
    amountRefunded: purchase.amountRefunded,
    creditedByProration,
    refundable: refundableAmount({ ...purchase, creditedByProration }),
    clawedBackCredits: purchase.clawedBackCredits,
    disputed: purchase.disputed,
    flaggedReason: purchase.flaggedReason,
    createdAt: purchase.createdAt.toISOString(),
  };
}

import { desc, eq } from "drizzle-orm";
import { creditPurchase, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

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
  return rows.map(({ purchase, email }) => ({ ...purchaseView(purchase), userId: purchase.userId, email }));
}

/** A purchase as the admin console shows it (amounts in minor units, credits as integers, times as ISO text). */
export function purchaseView(purchase: typeof creditPurchase.$inferSelect) {
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
    clawedBackCredits: purchase.clawedBackCredits,
    disputed: purchase.disputed,
    flaggedReason: purchase.flaggedReason,
    createdAt: purchase.createdAt.toISOString(),
  };
}

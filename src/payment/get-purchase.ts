import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";

export type PurchaseView = {
  id: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
  paymentIntentId: string | null;
  failureMessage: string | null;
  createdAt: string;
};

/** A purchase as its owner sees it; anyone else's purchase is reported as not found. */
export async function getPurchaseForUser(
  db: Database,
  userId: string,
  purchaseId: string,
): Promise<PurchaseView> {
  if (!z.uuid().safeParse(purchaseId).success) throw new NotFoundError("Purchase");
  const [row] = await db
    .select()
    .from(creditPurchase)
    .where(and(eq(creditPurchase.id, purchaseId), eq(creditPurchase.userId, userId)));
  if (!row) throw new NotFoundError("Purchase");
  return {
    id: row.id,
    packageId: row.packageId,
    credits: row.credits,
    amount: row.amount,
    currency: row.currency,
    status: row.status,
    paymentIntentId: row.paymentIntentId,
    failureMessage: row.failureMessage,
    createdAt: row.createdAt.toISOString(),
  };
}

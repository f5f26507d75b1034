import { type CreditPackage, packageName } from "@/catalog/packages";
import { creditPurchase } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import type { PaymentProviderName } from "./types";

/**
 * Records a pending purchase of `pkg` for `userId`, before any PaymentIntent exists; both ways of buying a
 * package use it: the browser's (createCreditPurchase) and auto top-up's off-session charge
 * (src/auto-top-up/run-auto-top-ups.ts).
 * - The price comes from the server: the caller passes a package it looked up in the catalog (never a
 *   client's amount), and its credits, amount (minor units), currency and expiry are snapshotted on the
 *   row. `payment_intent.succeeded` checks the payment against this snapshot and grants exactly these
 *   credits, so a catalog change after the purchase started changes nothing for it.
 * - Idempotency: the row is written once per purchase, and its id (or, for auto top-up, the attempt that
 *   holds it) is what the PaymentIntent's idempotency key is made from, so a retried request to the
 *   provider answers the same PaymentIntent instead of charging again. The caller owns the transaction:
 *   auto top-up writes the row in the transaction that records it on its attempt, so a retry finds it.
 * Returns the new purchase's id; throws only database errors.
 */
export async function recordPendingPurchase(
  db: DatabaseOrTransaction,
  input: { userId: string; pkg: CreditPackage; provider: PaymentProviderName },
): Promise<string> {
  const { pkg } = input;
  const [purchase] = await db
    .insert(creditPurchase)
    .values({
      userId: input.userId,
      packageId: pkg.id,
      credits: pkg.credits,
      amount: pkg.price.amount,
      currency: pkg.price.currency,
      expireDays: pkg.expireDays ?? null,
      provider: input.provider,
      status: "pending",
    })
    .returning({ id: creditPurchase.id });
  if (!purchase) throw new Error("purchase was not written");
  return purchase.id;
}

/**
 * The description of a package's payment, as the provider shows it (Stripe's dashboard, receipts):
 * "500 credits (Standard package)", or with `via`: "500 credits (Standard package, auto top-up)".
 */
export function purchaseDescription(pkg: CreditPackage, via?: string): string {
  return `${pkg.credits} credits (${packageName(pkg)} package${via ? `, ${via}` : ""})`;
}

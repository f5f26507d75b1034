import { eq, sql } from "drizzle-orm";
import { type CreditPackage, findPackageOnSale } from "@/catalog/packages";
import { PackageUnavailableError } from "@/credits/errors";
import { creditPurchase } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { purchaseDescription, recordPendingPurchase } from "./record-pending-purchase";
import {
  PaymentCustomerMissingError,
  type PaymentProvider,
  type PaymentProviderName,
  PaymentProviderUnavailableError,
} from "./types";

export type CreatedPurchase = {
  purchaseId: string;
  paymentIntentId: string;
  clientSecret: string;
  provider: PaymentProviderName;
};

/**
 * Starts a purchase. The client names only a package id: the price, currency and credits come from the
 * server's package config and are snapshotted on the purchase (recordPendingPurchase, shared with auto
 * top-up), which is what the webhook later checks the payment against. Its PaymentIntent is created under
 * the key `purchase:<purchase id>`. If the provider cannot be reached the purchase is marked failed and
 * nothing is granted.
 */
export async function createCreditPurchase(
  db: Database,
  provider: PaymentProvider,
  input: { userId: string; packageId: string; customerId?: string },
  packages?: readonly CreditPackage[],
): Promise<CreatedPurchase> {
  const pkg = findPackageOnSale(input.packageId, packages);
  if (!pkg) throw new PackageUnavailableError(input.packageId);

  const purchaseId = await recordPendingPurchase(db, {
    userId: input.userId,
    pkg,
    provider: provider.name,
  });
  const log = logger.child({ purchaseId, userId: input.userId, packageId: pkg.id });

  let intent: { id: string; clientSecret: string };
  try {
    intent = await provider.createPaymentIntent({
      amount: pkg.price.amount,
      currency: pkg.price.currency,
      description: purchaseDescription(pkg),
      metadata: { purchaseId, userId: input.userId, packageId: pkg.id },
      idempotencyKey: `purchase:${purchaseId}`,
      ...(input.customerId ? { customerId: input.customerId } : {}),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const customerMissing = error instanceof PaymentCustomerMissingError;
    await db
      .update(creditPurchase)
      .set({
        status: "failed",
        failureCode: customerMissing ? "customer_missing" : "provider_unavailable",
        failureMessage: message,
        updatedAt: sql`now()`,
      })
      .where(eq(creditPurchase.id, purchaseId));
    log.error({ reason: message }, "purchase failed: the payment provider did not create a PaymentIntent");
    // The caller replaces the customer and starts a new purchase (startPurchase).
    if (customerMissing || error instanceof PaymentProviderUnavailableError) throw error;
    throw new PaymentProviderUnavailableError("The payment service is unavailable.", error);
  }
  // Outside the provider's try: a database failure here is a database failure (5xx), not the provider's.
  // The PaymentIntent then exists without its id on the purchase; its webhook adopts it by metadata.
  await db
    .update(creditPurchase)
    .set({ paymentIntentId: intent.id, updatedAt: sql`now()` })
    .where(eq(creditPurchase.id, purchaseId));
  log.info({ paymentIntentId: intent.id, provider: provider.name }, "purchase started");
  return {
    purchaseId,
    paymentIntentId: intent.id,
    clientSecret: intent.clientSecret,
    provider: provider.name,
  };
}

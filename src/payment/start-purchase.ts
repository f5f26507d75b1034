import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { limitPurchases } from "@/limits/rate-limit";
import { getPaymentClientConfig } from "./client-config";
import { type CreatedPurchase, createCreditPurchase } from "./create-credit-purchase";
import { getPaymentProvider } from "./get-payment-provider";
import type { PurchaseRequest } from "./purchase-request";
import { ensurePaymentCustomer, replacePaymentCustomer } from "./subscriptions/payment-customers";
import { PaymentCustomerMissingError } from "./types";

/** A started purchase and what the browser needs to pay it. */
export type StartedPurchase = CreatedPurchase & {
  /** Stripe's publishable key for Stripe.js (read at run time); null with the sandbox or when unset. */
  publishableKey: string | null;
};

/**
 * The browser's "buy a package" use case, behind both of its doors: POST /api/credits/purchases
 * (src/routes/credits/create-purchase.ts) and the server action createCreditPaymentIntent
 * (src/actions/credits.ts). Each adapter only authenticates and parses; everything else is here, so the two
 * cannot answer the same request differently.
 *
 * 1. The per-user purchase limit (RATE_LIMIT_PURCHASES_PER_MINUTE), one count for both doors: every
 *    purchase creates a PaymentIntent at Stripe, so a loop here costs real API calls.
 * 2. The user's one customer at the provider (made at the first purchase or subscription, then reused).
 * 3. createCreditPurchase: the price comes from the server's catalog; a pending purchase and its
 *    PaymentIntent.
 * 4. The client configuration of the active provider (the publishable key).
 *
 * Throws RateLimitedError (429 rate_limited, retryable, with the seconds to wait), PackageUnavailableError
 * (400 package_unavailable), PaymentProviderUnavailableError (502 payment_provider_unavailable, the
 * purchase marked failed) and database errors; src/server/http-errors.ts maps them for both doors.
 */
export async function startPurchase(
  db: Database,
  user: { id: string; email: string },
  request: PurchaseRequest,
): Promise<StartedPurchase> {
  await limitPurchases(user.id);
  const provider = getPaymentProvider(db);
  // One customer per user at the provider, shared by packages and subscriptions (the issue's "one Stripe
  // customer per user, reused for package purchases"): the customer's payments, cards and receipts stay
  // together in Stripe's dashboard and portal.
  // Best effort: a customer that cannot be made now must not stop the purchase (its PaymentIntent is
  // what takes the money; if the provider is down, creating it fails and the purchase is marked failed).
  const customerId = await ensurePaymentCustomer(db, provider, user).catch((error: unknown) => {
    logger.warn({ userId: user.id, err: error }, "the payment customer could not be made; buying without it");
    return undefined;
  });
  const buy = (customer: string | undefined) =>
    createCreditPurchase(db, provider, {
      userId: user.id,
      packageId: request.packageId,
      customerId: customer,
    });
  const purchase = await buy(customerId).catch(async (error: unknown) => {
    // A customer the provider no longer has: made again, and the purchase started once more (the first
    // attempt is left `failed`, customer_missing).
    if (!(error instanceof PaymentCustomerMissingError)) throw error;
    return buy(await replacePaymentCustomer(db, provider, user, error.customerId));
  });
  return { ...purchase, publishableKey: getPaymentClientConfig().publishableKey };
}

import type { Database } from "@/db/types";
import { limitPurchases } from "@/limits/rate-limit";
import { getPaymentClientConfig } from "./client-config";
import { type CreatedPurchase, createCreditPurchase } from "./create-credit-purchase";
import { getPaymentProvider } from "./get-payment-provider";
import type { PurchaseRequest } from "./purchase-request";

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
 * 2. createCreditPurchase: the price comes from the server's catalog; a pending purchase and its
 *    PaymentIntent.
 * 3. The client configuration of the active provider (the publishable key).
 *
 * Throws RateLimitedError (429 rate_limited, retryable, with the seconds to wait), PackageUnavailableError
 * (400 package_unavailable), PaymentProviderUnavailableError (502 payment_provider_unavailable, the
 * purchase marked failed) and database errors; src/server/http-errors.ts maps them for both doors.
 */
export async function startPurchase(
  db: Database,
  userId: string,
  request: PurchaseRequest,
): Promise<StartedPurchase> {
  await limitPurchases(userId);
  const purchase = await createCreditPurchase(db, getPaymentProvider(db), {
    userId,
    packageId: request.packageId,
  });
  return { ...purchase, publishableKey: getPaymentClientConfig().publishableKey };
}

import { publicUrl } from "@/config/env";
import { NotFoundError } from "@/credits/errors";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { limitPurchases } from "@/limits/rate-limit";
import { PaymentCustomerMissingError, type PaymentProvider } from "../types";
import { findPaymentCustomer, forgetPaymentCustomer } from "./payment-customers";

/**
 * POST /api/credits/subscription/portal: a session of the provider's customer portal for the signed-in
 * user's customer (Stripe's page for changing the card, switching plans and cancelling), returning to the
 * credits page. What the customer does there comes back as the same `customer.subscription.*` and
 * `invoice.*` events as changes made here, through the same handlers. Returns `{url}`, a one-time link
 * (Stripe's sessions last a few minutes).
 *
 * Errors: RateLimitedError (one limit with purchases), NotFoundError (the user has no customer at the provider: nothing was ever bought or subscribed
 * through it), BillingPortalUnavailableError (the sandbox: the credits page's own dialog manages the
 * subscription), PaymentProviderUnavailableError.
 */
export async function openBillingPortal(
  db: Database,
  provider: PaymentProvider,
  userId: string,
): Promise<{ url: string }> {
  // Each call is a call to the provider: one limit with purchases and subscribes.
  await limitPurchases(userId);
  const customerId = await findPaymentCustomer(db, userId, provider.name);
  if (!customerId) throw new NotFoundError("Customer");
  const session = await provider
    .createBillingPortalSession(customerId, `${publicUrl()}/settings/credits`)
    .catch(async (error: unknown) => {
      // The provider no longer has the customer: there is nothing of the user's to manage there.
      if (!(error instanceof PaymentCustomerMissingError)) throw error;
      await forgetPaymentCustomer(db, userId, provider.name, customerId);
      throw new NotFoundError("Customer");
    });
  logger.info({ userId, customerId }, "customer portal opened");
  return session;
}

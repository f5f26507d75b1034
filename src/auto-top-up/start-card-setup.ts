import { randomUUID } from "node:crypto";
import type { Database } from "@/db/types";
import { getPaymentClientConfig } from "@/payment/client-config";
import { ensurePaymentCustomer, replacePaymentCustomer } from "@/payment/subscriptions/payment-customers";
import { PaymentCustomerMissingError, type PaymentProvider, type PaymentProviderName } from "@/payment/types";

export type StartedCardSetup = {
  setupIntentId: string;
  clientSecret: string;
  provider: PaymentProviderName;
  /** Stripe's publishable key for the Payment Element in setup mode; null with the sandbox. */
  publishableKey: string | null;
};

/**
 * Starts saving a card for auto top-up (POST /api/credits/auto-top-up/setup-intent): a SetupIntent for
 * off-session use on the user's one customer at the provider (made on first use, replaced once if the
 * provider lost it). The browser confirms it (Payment Element, or the sandbox's card form through POST
 * /api/sandbox/setup-intents/{id}/confirm) and then names it to POST /api/credits/auto-top-up/card, where
 * the server reads it back from the provider. Each call is a new SetupIntent (a fresh idempotency key: a
 * user may try several cards). Errors: PaymentProviderUnavailableError (502).
 */
export async function startCardSetup(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
): Promise<StartedCardSetup> {
  const create = (customerId: string) =>
    provider.createSetupIntent({
      customerId,
      userId: user.id,
      idempotencyKey: `setup:${user.id}:${randomUUID()}`,
    });
  const customerId = await ensurePaymentCustomer(db, provider, user);
  const intent = await create(customerId).catch(async (error: unknown) => {
    if (!(error instanceof PaymentCustomerMissingError)) throw error;
    return create(await replacePaymentCustomer(db, provider, user, error.customerId));
  });
  return {
    setupIntentId: intent.id,
    clientSecret: intent.clientSecret,
    provider: provider.name,
    publishableKey: getPaymentClientConfig().publishableKey,
  };
}

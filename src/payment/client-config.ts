import { getServerEnv } from "@/config/env";
import { activePaymentProvider } from "./payment-config";
import type { PaymentProviderName } from "./types";

export type PaymentClientConfig = { provider: PaymentProviderName; publishableKey: string | null };

/** What the browser needs to render the pay form. The publishable key travels from the server at run time. */
export function getPaymentClientConfig(): PaymentClientConfig {
  const provider = activePaymentProvider();
  return {
    provider,
    publishableKey:
      provider === "stripe" ? (getServerEnv().NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY ?? null) : null,
  };
}

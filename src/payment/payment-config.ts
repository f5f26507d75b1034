import { getServerEnv } from "@/config/env";
import { getLocalSecrets } from "@/config/local-secrets";
import type { PaymentProviderName } from "./types";

/**
 * Decided at run time from the server's environment, so one build serves the sandbox and Stripe:
 * Stripe when STRIPE_SECRET_KEY is set, the offline sandbox otherwise.
 */
export function activePaymentProvider(): PaymentProviderName {
  return getServerEnv().STRIPE_SECRET_KEY ? "stripe" : "sandbox";
}

/** The secret webhook signatures are checked against: Stripe's, or the sandbox's own generated one. */
export function webhookSigningSecret(): string {
  const env = getServerEnv();
  if (env.STRIPE_SECRET_KEY && env.STRIPE_WEBHOOK_SECRET) return env.STRIPE_WEBHOOK_SECRET;
  return getLocalSecrets().sandboxWebhookSecret;
}

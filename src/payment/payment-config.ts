import { getServerEnv, isLocalUrl, publicUrl } from "@/config/env";
import { getLocalSecrets } from "@/config/local-secrets";
import type { PaymentProviderName } from "./types";

/**
 * Decided at run time from the server's environment, so one build serves the sandbox and Stripe:
 * PAYMENT_PROVIDER when set; otherwise Stripe when STRIPE_SECRET_KEY is set, the offline sandbox when not.
 * Servers refuse to start with the sandbox at a public URL unless PAYMENT_PROVIDER=sandbox asks for it
 * (serverConfigurationProblems in src/config/env.ts).
 */
export function activePaymentProvider(): PaymentProviderName {
  const env = getServerEnv();
  return env.PAYMENT_PROVIDER ?? (env.STRIPE_SECRET_KEY ? "stripe" : "sandbox");
}

/**
 * True when the sandbox takes payments somewhere other people can reach, which only PAYMENT_PROVIDER=sandbox
 * allows: every page then says so, since the test card buys real credits there.
 */
export function sandboxOnPublicUrl(): boolean {
  return activePaymentProvider() === "sandbox" && !isLocalUrl(publicUrl());
}

/** The secret webhook signatures are checked against: Stripe's, or the sandbox's own generated one. */
export function webhookSigningSecret(): string {
  const env = getServerEnv();
  if (activePaymentProvider() === "stripe" && env.STRIPE_WEBHOOK_SECRET) return env.STRIPE_WEBHOOK_SECRET;
  return getLocalSecrets().sandboxWebhookSecret;
}

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
 * True when the sandbox runs at a public URL (only PAYMENT_PROVIDER=sandbox allows it) or was asked for
 * by name: every page then says that payments are simulated, since the test card buys credits there.
 */
export function sandboxBannerShown(): boolean {
  if (activePaymentProvider() !== "sandbox") return false;
  return getServerEnv().PAYMENT_PROVIDER === "sandbox" || !isLocalUrl(publicUrl());
}

/** The secret webhook signatures are checked against: Stripe's, or the sandbox's own generated one. */
export function webhookSigningSecret(): string {
  const env = getServerEnv();
  if (activePaymentProvider() === "stripe" && env.STRIPE_WEBHOOK_SECRET) return env.STRIPE_WEBHOOK_SECRET;
  return getLocalSecrets().sandboxWebhookSecret;
}

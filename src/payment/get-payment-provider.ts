import { getServerEnv } from "@/config/env";
import type { Database } from "@/db/types";
import { activePaymentProvider, webhookSigningSecret } from "./payment-config";
import { SandboxPaymentProvider } from "./sandbox/sandbox-provider";
import { createStripeClient } from "./stripe/stripe-client";
import { StripePaymentProvider } from "./stripe/stripe-provider";
import type { PaymentProvider } from "./types";

export function getPaymentProvider(db: Database): PaymentProvider {
  const env = getServerEnv();
  if (activePaymentProvider() === "stripe") {
    if (!env.STRIPE_SECRET_KEY) throw new Error("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY");
    return new StripePaymentProvider(createStripeClient(env.STRIPE_SECRET_KEY, env.STRIPE_API_BASE), db);
  }
  return new SandboxPaymentProvider(db, webhookSigningSecret());
}

import Stripe from "stripe";
import { STRIPE_API_VERSION } from "./api-version";

/**
 * A Stripe SDK client. `apiBase` (STRIPE_API_BASE) points it at a local Stripe-compatible server,
 * which is how tests exercise the real SDK without the network.
 */
export function createStripeClient(secretKey: string, apiBase?: string): Stripe {
  const base = apiBase ? new URL(apiBase) : undefined;
  return new Stripe(secretKey, {
    // Explicit, so the objects Stripe returns are in the shapes this code reads (see api-version.ts).
    apiVersion: STRIPE_API_VERSION,
    timeout: 15_000,
    maxNetworkRetries: 1,
    appInfo: { name: "creditkit" },
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === "https:" ? 443 : 80)),
          protocol: base.protocol === "https:" ? "https" : "http",
        }
      : {}),
  });
}

/** Signature checks need no API key and no network: one verifier serves Stripe and the sandbox alike. */
export const webhookVerifier = new Stripe("sk_test_signature_verification_only");

/**
 * The Stripe API version this code reads objects in: the version stripe@23.1.0 pins
 * (`Stripe.API_VERSION`), passed explicitly by the client (src/payment/stripe/stripe-client.ts) and claimed
 * by the sandbox's events. Pinned in code, not taken from the SDK at run time, because the shapes the
 * subscription handlers read changed between versions: since 2025-03-31 an invoice has no top-level
 * `subscription` (it is `parent.subscription_details.subscription`) and a subscription's billing period
 * lives on its items (`items.data[].current_period_start/end`). An SDK upgrade that moves the version
 * fails api-version.test.ts until someone has checked those shapes again and moved this constant.
 *
 * Create the webhook endpoint with this version, so Stripe sends events in the shapes read here; the
 * subscription handlers refuse events of any other version (stored as failed webhooks, retried).
 */
export const STRIPE_API_VERSION = "2026-10-28.endive" as const;

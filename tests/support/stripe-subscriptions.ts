import { findPlan } from "../../src/catalog/plans";
import { planPrice, subscription } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { planLookupKey } from "../../src/payment/subscriptions/plan-prices";
import { APP_ORIGIN } from "./app-requests";
import { webhookPost } from "./route-handlers";
import { seedUser } from "./seed";
import { signPayload, testId } from "./stripe-events";

/** The webhook route's answer to a delivered payload: its status and its JSON body. */
export type SignedDelivery = { status: number; body: { outcome?: string; error?: { code: string } } };

/**
 * Posts a payload built by stripeEventPayload to the app's webhook route, signed by the SDK with the
 * configured webhook secret, as Stripe delivers it. Replaying the same payload replays the same event.
 */
export async function deliverSignedPayload(payload: string): Promise<SignedDelivery> {
  const response = await webhookPost(
    new Request(`${APP_ORIGIN}/api/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": signPayload(payload, webhookSigningSecret()),
      },
      body: payload,
    }),
  );
  return { status: response.status, body: (await response.json()) as SignedDelivery["body"] };
}

/**
 * Records Stripe prices for catalog plans, as the app records a price it made (amount, currency,
 * interval and lookup key from the catalog), so invoice lines naming `priceId` map to `planId`.
 */
export async function insertStripePlanPrices(
  db: Database,
  prices: readonly { priceId: string; planId: string }[],
): Promise<void> {
  await db.insert(planPrice).values(
    prices.map(({ priceId, planId }) => {
      const plan = findPlan(planId);
      if (!plan?.price) throw new Error(`no paid plan ${planId} in the catalog`);
      return {
        priceId,
        provider: "stripe" as const,
        planId,
        amount: plan.price.amount,
        currency: plan.price.currency,
        interval: plan.interval,
        lookupKey: planLookupKey(plan),
      };
    }),
  );
}

/** A new user with an active Stripe subscription to `planId` (fresh customer and subscription ids). */
export async function seedStripeSubscription(db: Database, planId = "pro-monthly") {
  const userId = await seedUser(db);
  const customer = testId("cus");
  const providerSubscriptionId = testId("sub");
  const [row] = await db
    .insert(subscription)
    .values({
      userId,
      provider: "stripe",
      customerId: customer,
      planId,
      status: "active",
      providerSubscriptionId,
    })
    .returning();
  if (!row) throw new Error("no subscription row");
  return { userId, customer, providerSubscriptionId, row };
}

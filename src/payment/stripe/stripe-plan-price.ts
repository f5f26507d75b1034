import { and, eq } from "drizzle-orm";
import type Stripe from "stripe";
import { type Plan, planName } from "@/catalog/plans";
import { planPrice } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { planLookupKey } from "../subscriptions/plan-prices";

/**
 * The Stripe Price of a plan (a recurring price in the plan's currency and interval, `unit_amount` in minor
 * units), found or made once and recorded in plan_price, where webhooks map an invoice line's or a
 * subscription item's price back to its plan (plan-prices.ts).
 *
 * Found by its lookup key (`creditkit:<planId>:<amount>:<currency>`, Stripe's `lookup_key`, unique per
 * account): an operator never has to copy price ids into the configuration, and a second instance, or a
 * second database against the same account, finds the price the first one made. Made with the lookup key
 * as the idempotency key, so two first uses at once make one price
 * (https://docs.stripe.com/api/idempotent_requests); `transfer_lookup_key` is not used, so a price made by
 * hand with our key is used as it is — as long as it matches the catalog's amount, currency and interval,
 * else the catalog wins and the call fails loudly rather than charge another amount.
 *
 * Errors: whatever the SDK throws (the caller maps it to PaymentProviderUnavailableError), and Error when
 * a price with our lookup key does not match the plan.
 */
export async function ensureStripePrice(
  db: DatabaseOrTransaction,
  stripe: Stripe,
  plan: Plan,
): Promise<string> {
  if (!plan.price) throw new Error(`plan ${plan.id} has no price`);
  const lookupKey = planLookupKey(plan);
  const [known] = await db
    .select({ priceId: planPrice.priceId })
    .from(planPrice)
    .where(and(eq(planPrice.provider, "stripe"), eq(planPrice.lookupKey, lookupKey)));
  if (known) return known.priceId;

  const found = await stripe.prices.list({ lookup_keys: [lookupKey], active: true, limit: 1 });
  const price =
    found.data[0] ??
    (await stripe.prices.create(
      {
        lookup_key: lookupKey,
        currency: plan.price.currency,
        unit_amount: plan.price.amount,
        recurring: { interval: plan.interval },
        product_data: { name: planName(plan), metadata: { planId: plan.id } },
        metadata: { planId: plan.id },
      },
      { idempotencyKey: `price:${lookupKey}` },
    ));
  if (
    price.unit_amount !== plan.price.amount ||
    price.currency !== plan.price.currency ||
    price.recurring?.interval !== plan.interval
  )
    throw new Error(
      `Stripe price ${price.id} has lookup key ${lookupKey} but charges ${price.unit_amount} ${price.currency} a ${price.recurring?.interval}, not the plan's price`,
    );
  await db
    .insert(planPrice)
    .values({
      priceId: price.id,
      provider: "stripe",
      planId: plan.id,
      amount: plan.price.amount,
      currency: plan.price.currency,
      interval: plan.interval,
      lookupKey,
    })
    .onConflictDoNothing();
  const [stored] = await db
    .select({ priceId: planPrice.priceId })
    .from(planPrice)
    .where(and(eq(planPrice.provider, "stripe"), eq(planPrice.lookupKey, lookupKey)));
  return stored?.priceId ?? price.id;
}

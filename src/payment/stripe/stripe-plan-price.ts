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
 * second database against the same account, finds the price the first one made. Two first uses at once make
 * one price: Stripe refuses a second price with a lookup key in use (`transfer_lookup_key` is not sent), and
 * the refused call finds the other's. A price made by hand with our key is used as it is — as long as it
 * matches the catalog's amount, currency and interval (every one interval), else the catalog wins and the
 * call fails loudly rather than charge another amount.
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

  const find = async () =>
    (await stripe.prices.list({ lookup_keys: [lookupKey], active: true, limit: 1 })).data[0];
  let price = await find();
  if (!price) {
    try {
      // No idempotency key: Stripe keeps a key's first answer for 24 hours, a 500 included, which would
      // make the plan unsellable for a day after one failed call. The lookup key is the guard instead:
      // Stripe refuses a second price with it, and the loser of two concurrent first uses finds the
      // winner's price.
      price = await stripe.prices.create({
        lookup_key: lookupKey,
        currency: plan.price.currency,
        unit_amount: plan.price.amount,
        recurring: { interval: plan.interval, interval_count: 1 },
        product_data: { name: planName(plan), metadata: { planId: plan.id } },
        metadata: { planId: plan.id },
      });
    } catch (error) {
      const made = await find();
      if (!made) throw error;
      price = made;
    }
  }
  if (
    price.unit_amount !== plan.price.amount ||
    price.currency !== plan.price.currency ||
    price.recurring?.interval !== plan.interval ||
    (price.recurring?.interval_count ?? 1) !== 1
  )
    throw new Error(
      `Stripe price ${price.id} has lookup key ${lookupKey} but charges ${price.unit_amount} ${price.currency} every ${price.recurring?.interval_count ?? 1} ${price.recurring?.interval}, not the plan's price`,
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

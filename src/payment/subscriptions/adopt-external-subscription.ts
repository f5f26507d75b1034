import { and, eq, inArray } from "drizzle-orm";
import type Stripe from "stripe";
import { findPlan, type Plan } from "@/catalog/plans";
import { LIVE_SUBSCRIPTION_STATUSES, paymentCustomer, planPrice, subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { UnknownEventValueError } from "../types";
import { applySubscriptionSnapshot } from "./apply-subscription-snapshot";
import { lockSubscriptionForEvent, type SubscriptionRow } from "./lock-subscription";
import { planLookupKey } from "./plan-prices";

/**
 * A provider subscription that was not started by this app and cannot be adopted (see
 * adoptExternalSubscription): the event is refused and stored as a failed webhook (Admin → Failed
 * webhooks) with this message as its reason, and nothing is granted. Once the cause is fixed (the customer
 * linked, the price replaced), the operator retries it there, or Stripe's own retry applies it.
 */
export class SubscriptionNotAdoptableError extends UnknownEventValueError {}

const LOOKUP_KEY = /^creditkit:([^:]+):(\d+):([a-z]{3})$/;

/**
 * The plan of a subscription item's price: a price already recorded in plan_price (one the app made or
 * found, stripe-plan-price.ts), else a price carrying our lookup key `creditkit:<plan>:<amount>:<currency>`
 * whose amount, currency and interval (every one) are the catalog plan's. Such a price is recorded in
 * plan_price, so the invoice lines naming it map to the plan as any other. Null when the price is not ours.
 */
async function planOfItemPrice(
  tx: DatabaseOrTransaction,
  provider: string,
  price: Stripe.Price | string | undefined,
): Promise<{ plan: Plan } | { problem: string }> {
  const priceId = typeof price === "string" ? price : price?.id;
  if (!priceId) return { problem: "it has no price" };
  const [known] = await tx.select().from(planPrice).where(eq(planPrice.priceId, priceId));
  const knownPlan = known ? findPlan(known.planId) : undefined;
  if (knownPlan) return { plan: knownPlan };
  const lookupKey = typeof price === "string" ? null : price?.lookup_key;
  const match = lookupKey ? LOOKUP_KEY.exec(lookupKey) : null;
  const plan = match?.[1] ? findPlan(match[1]) : undefined;
  if (!plan?.price || typeof price === "string" || !price || lookupKey !== planLookupKey(plan))
    return {
      problem: `its price ${priceId} is not one of this app's plan prices (lookup key ${lookupKey ?? "none"}; ours are creditkit:<plan>:<amount>:<currency> of a plan in the catalog)`,
    };
  if (
    price.unit_amount !== plan.price.amount ||
    price.currency !== plan.price.currency ||
    price.recurring?.interval !== plan.interval ||
    (price.recurring?.interval_count ?? 1) !== 1
  )
    return {
      problem: `its price ${priceId} has the lookup key ${lookupKey} but charges ${price.unit_amount} ${price.currency} every ${price.recurring?.interval_count ?? 1} ${price.recurring?.interval}, not the plan's price`,
    };
  const inserted = await tx
    .insert(planPrice)
    .values({
      priceId,
      provider,
      planId: plan.id,
      amount: plan.price.amount,
      currency: plan.price.currency,
      interval: plan.interval,
      lookupKey,
    })
    .onConflictDoNothing()
    .returning({ priceId: planPrice.priceId });
  if (inserted.length === 0) {
    // Another price holds the lookup key here (or this one was recorded meanwhile): ask again by its id.
    const [again] = await tx.select().from(planPrice).where(eq(planPrice.priceId, priceId));
    const againPlan = again ? findPlan(again.planId) : undefined;
    if (againPlan) return { plan: againPlan };
    return {
      problem: `its price ${priceId} carries the lookup key ${lookupKey}, which this app has recorded for another price`,
    };
  }
  return { plan };
}

/**
 * Adopts a subscription started outside the app (in Stripe's Dashboard or through its API) when it is
 * plainly one of ours: what a SaaS operator expects when they subscribe a customer by hand is that the
 * customer gets the plan's credits, exactly as if the customer had subscribed on the credits page.
 *
 * Adopted when all hold:
 * - its metadata names no subscription of ours (a `subscriptionId` there means the app made it, for
 *   this database or another: lockSubscriptionForEvent decides those, never this);
 * - its customer is one the app made for a user (payment_customer, payment-customers.ts);
 * - it has one item, quantity 1, whose price is one of ours (planOfItemPrice: lookup key
 *   `creditkit:<plan>:<amount>:<currency>`, stripe-plan-price.ts);
 * - the user has no other live subscription at this provider (a second one would grant a second
 *   allowance every month; the operator decides which one stays).
 * Then a subscription row is written for the user (`adopted_at` set; the trial it was given, if any,
 * recorded as offered) and the object's state applied to it (applySubscriptionSnapshot, as of `at`), under
 * the customer row's lock, the one subscribing takes, so an adoption and a subscribe of the same user
 * run one after the other. The row's key is the provider's subscription id (unique): of two events
 * adopting at once (`invoice.paid` and `customer.subscription.created`, retries, reordered deliveries),
 * one inserts and the other finds and locks that row, so a subscription is adopted once and its periods,
 * granted by `invoice.paid` alone and keyed by the invoice, are granted once.
 *
 * Otherwise SubscriptionNotAdoptableError, whose message says which rule failed: the caller's event is
 * refused and stored as a failed webhook where operators look (never granted). Returns the locked row,
 * and whether this call adopted it (false: another event of the subscription adopted it first).
 */
export async function adoptExternalSubscription(
  tx: DatabaseOrTransaction,
  object: Stripe.Subscription,
  at: Date,
  context: { eventId: string; invoiceId?: string },
): Promise<{ row: SubscriptionRow; adopted: boolean }> {
  const customerId = typeof object.customer === "string" ? object.customer : object.customer?.id;
  const refuse = (problem: string): never => {
    throw new SubscriptionNotAdoptableError(
      `Subscription ${object.id} was not started by this app and is not adopted: ${problem}. Nothing was granted${context.invoiceId ? ` for invoice ${context.invoiceId}` : ""}.`,
      { providerSubscriptionId: object.id, customerId, invoiceId: context.invoiceId },
    );
  };
  if (object.metadata?.subscriptionId)
    refuse(
      `its metadata names subscription ${object.metadata.subscriptionId}, which this database does not hold`,
    );
  if (!customerId) return refuse("it names no customer");
  const [customer] = await tx
    .select()
    .from(paymentCustomer)
    .where(eq(paymentCustomer.customerId, customerId))
    .for("update");
  if (!customer) return refuse(`its customer ${customerId} is not one this app made for a user`);
  const items = object.items?.data ?? [];
  const [item] = items;
  if (!item || items.length > 1 || (item.quantity ?? 1) !== 1)
    return refuse(
      `it has ${items.length} items (quantities ${items.map((i) => i.quantity).join(", ")}), not one plan`,
    );
  const priced = await planOfItemPrice(tx, customer.provider, item.price);
  if ("problem" in priced) return refuse(priced.problem);

  // Under the customer lock: an event of this subscription that adopted it meanwhile is found here.
  const adopted = await lockSubscriptionForEvent(tx, { providerSubscriptionId: object.id, customerId });
  if (adopted) return { row: adopted, adopted: false };
  const [live] = await tx
    .select({ id: subscription.id, status: subscription.status })
    .from(subscription)
    .where(
      and(
        eq(subscription.userId, customer.userId),
        eq(subscription.provider, customer.provider),
        inArray(subscription.status, LIVE_SUBSCRIPTION_STATUSES),
      ),
    )
    .limit(1);
  if (live)
    return refuse(
      `its customer's user already has subscription ${live.id} (${live.status}); a second one would grant a second allowance`,
    );

  const trialDays =
    object.trial_start != null && object.trial_end != null
      ? Math.round((object.trial_end - object.trial_start) / 86_400)
      : null;
  await tx
    .insert(subscription)
    .values({
      userId: customer.userId,
      provider: customer.provider,
      providerSubscriptionId: object.id,
      customerId,
      planId: priced.plan.id,
      status: "incomplete",
      trialOfferedDays: trialDays,
      adoptedAt: at,
    })
    .onConflictDoNothing({ target: subscription.providerSubscriptionId });
  const row = await lockSubscriptionForEvent(tx, { providerSubscriptionId: object.id, customerId });
  if (!row) throw new Error(`adopted subscription ${object.id} was not stored`);
  // A row with a state was adopted by a concurrent event that committed first: it applied its own.
  if (row.stateAt !== null) return { row, adopted: false };
  await applySubscriptionSnapshot(tx, row, object, at);
  const [applied] = await tx.select().from(subscription).where(eq(subscription.id, row.id));
  logger.warn(
    {
      eventId: context.eventId,
      subscriptionId: row.id,
      userId: row.userId,
      providerSubscriptionId: object.id,
      planId: priced.plan.id,
    },
    "subscription started outside the app adopted",
  );
  return { row: applied ?? row, adopted: true };
}

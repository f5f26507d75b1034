import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { subscription } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { limitPurchases } from "@/limits/rate-limit";
import type { PaymentProvider } from "../types";
import { getSubscriptionSummary, type SubscriptionSummary } from "./get-subscription-summary";

/** Subscriptions that renew, so cancelling at the period's end means something. */
const CANCELABLE = ["trialing", "active", "past_due", "unpaid", "paused"];

/**
 * DELETE /api/credits/subscription: cancels the user's subscription at the end of its current period, as
 * the issue asks and Stripe's portal does by default. Nothing ends now and nothing is taken: the period's
 * credits stay until their own expiry, and no later period is granted because no invoice comes. The
 * provider reports the change (`customer.subscription.updated`, delivered before the sandbox answers).
 * NotFoundError when the user has no subscription that renews. Returns the subscription as it is then.
 */
export async function cancelSubscription(
  db: Database,
  provider: PaymentProvider,
  userId: string,
): Promise<SubscriptionSummary | null> {
  // A call to the provider each time: one limit with purchases and plan changes.
  await limitPurchases(userId);
  const [row] = await db
    .select()
    .from(subscription)
    .where(and(eq(subscription.userId, userId), inArray(subscription.status, CANCELABLE)))
    .orderBy(desc(subscription.createdAt))
    .limit(1);
  if (!row?.providerSubscriptionId || row.provider !== provider.name) throw new NotFoundError("Subscription");
  await provider.setCancelAtPeriodEnd(row.providerSubscriptionId, true);
  // The answer shows the cancellation at once; the provider's `customer.subscription.updated` says the
  // same (the sandbox's before this line, Stripe's whenever it arrives) and, cancelling drops a change
  // waiting for the period's end (Stripe releases its schedule), so the scheduled plan goes too.
  await db
    .update(subscription)
    .set({ cancelAtPeriodEnd: true, scheduledPlanId: null, updatedAt: sql`now()` })
    .where(eq(subscription.id, row.id));
  logger.info({ subscriptionId: row.id, userId }, "subscription set to cancel at the end of its period");
  return getSubscriptionSummary(db, userId);
}

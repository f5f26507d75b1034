import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";

export type SubscriptionRow = typeof subscription.$inferSelect;

const ourIdSchema = z.uuid();

/**
 * Finds the subscription row a provider event is about and locks it (FOR UPDATE), so every event of one
 * subscription applies one after the other. Lock order on every subscription path: subscription, then
 * credit_purchase, then the ledger account.
 *
 * - By the provider's subscription id, once linked.
 * - Else by our id in the subscription's metadata (`subscriptionId`), which links the row: an event can
 *   arrive before the app has stored the provider's id (the sandbox delivers `created` while subscribing;
 *   Stripe's events race the Checkout redirect). A row already linked to another provider subscription,
 *   or made for another customer, is not taken over: it is flagged and the event finds nothing.
 *
 * Returns undefined when no row is ours.
 */
export async function lockSubscriptionForEvent(
  tx: DatabaseOrTransaction,
  ref: { providerSubscriptionId: string; ourId?: string | null; customerId?: string | null },
): Promise<SubscriptionRow | undefined> {
  const [linked] = await tx
    .select()
    .from(subscription)
    .where(eq(subscription.providerSubscriptionId, ref.providerSubscriptionId))
    .for("update");
  if (linked) return linked;

  const ourId = ourIdSchema.safeParse(ref.ourId);
  if (!ourId.success) return undefined;
  const [claimed] = await tx.select().from(subscription).where(eq(subscription.id, ourId.data)).for("update");
  if (!claimed) return undefined;
  // Re-read under the lock: a concurrent event may have linked it meanwhile.
  if (claimed.providerSubscriptionId === ref.providerSubscriptionId) return claimed;
  const problem =
    claimed.providerSubscriptionId !== null
      ? `metadata of ${ref.providerSubscriptionId} names a subscription linked to ${claimed.providerSubscriptionId}`
      : ref.customerId && claimed.customerId && ref.customerId !== claimed.customerId
        ? `${ref.providerSubscriptionId} belongs to customer ${ref.customerId}, not ${claimed.customerId}`
        : null;
  if (problem) {
    logger.error(
      { subscriptionId: claimed.id, userId: claimed.userId, reason: problem },
      "subscription not linked",
    );
    await tx
      .update(subscription)
      .set({ flaggedReason: problem, updatedAt: sql`now()` })
      .where(eq(subscription.id, claimed.id));
    return undefined;
  }
  const [updated] = await tx
    .update(subscription)
    .set({
      providerSubscriptionId: ref.providerSubscriptionId,
      customerId: claimed.customerId ?? ref.customerId ?? null,
      updatedAt: sql`now()`,
    })
    .where(eq(subscription.id, claimed.id))
    .returning();
  return updated;
}

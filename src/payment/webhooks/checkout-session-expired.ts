import { and, eq, isNull, or, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { z } from "zod";
import { subscription } from "@/db/schema";
import { logger } from "@/lib/logger";
import type { WebhookHandler } from "./types";

/**
 * `checkout.session.expired`: the customer left the subscribe page unpaid until Stripe expired it (24
 * hours by default) or the app expired it when the customer chose another plan. Our row, still
 * `checkout` (nothing started at Stripe), becomes `abandoned`, so it no longer blocks a new subscribe;
 * a row the session's subscription already moved on is left as it is. Grants and takes nothing.
 */
export const handleCheckoutSessionExpired: WebhookHandler = async (tx, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  if (session.mode !== "subscription") return "ignored";
  // Only an expired session abandons, and only a row no subscription was linked to: a replayed or forged
  // expiry of a session the customer completed must not end what they paid for.
  if (session.status !== "expired") return "not_expired";
  // By the session id the row stored, or by our id in `client_reference_id` when the row has not
  // stored it yet (the expiry raced the subscribe request's last write).
  const ourId = z.uuid().safeParse(session.client_reference_id);
  const bySession = eq(subscription.checkoutSessionId, session.id);
  const abandoned = await tx
    .update(subscription)
    .set({ status: "abandoned", updatedAt: sql`now()` })
    .where(
      and(
        eq(subscription.status, "checkout"),
        isNull(subscription.providerSubscriptionId),
        ourId.success
          ? or(bySession, and(eq(subscription.id, ourId.data), isNull(subscription.checkoutSessionId)))
          : bySession,
      ),
    )
    .returning({ id: subscription.id, userId: subscription.userId });
  const [row] = abandoned;
  if (!row) return "nothing_to_abandon";
  logger.info(
    { eventId: event.id, checkoutSessionId: session.id, subscriptionId: row.id, userId: row.userId },
    "subscription checkout expired: abandoned",
  );
  return "abandoned";
};

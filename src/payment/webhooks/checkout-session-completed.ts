import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { lockSubscriptionForEvent } from "../subscriptions/lock-subscription";
import type { WebhookHandler } from "./types";

const idOf = (reference: string | { id: string } | null | undefined) =>
  typeof reference === "string" ? reference : reference?.id;

/**
 * `checkout.session.completed` of a subscription-mode Checkout Session (the Stripe provider's subscribe
 * page): links our row (`client_reference_id`, also `metadata.subscriptionId`) to the subscription and
 * customer the session made, under the row's lock (lockSubscriptionForEvent: a row linked to another
 * subscription or made for another customer is flagged, not taken over). It never grants and never moves
 * the status: a completed session only says the customer finished the page (an asynchronous or
 * authenticated payment may still fail), and `invoice.paid` is the one event that grants; the
 * `customer.subscription.*` events carry the state. Sessions of other modes are not ours (packages are
 * paid with PaymentIntents): `ignored`.
 */
export const handleCheckoutSessionCompleted: WebhookHandler = async (tx, event) => {
  const session = event.data.object as Stripe.Checkout.Session;
  if (session.mode !== "subscription") return "ignored";
  const providerSubscriptionId = idOf(session.subscription);
  const log = logger.child({ eventId: event.id, checkoutSessionId: session.id });
  if (!providerSubscriptionId) {
    log.warn("a completed subscription checkout without a subscription: ignored");
    return "no_subscription";
  }
  const row = await lockSubscriptionForEvent(tx, {
    providerSubscriptionId,
    ourId: session.client_reference_id ?? session.metadata?.subscriptionId,
    customerId: idOf(session.customer),
  });
  if (!row) {
    log.warn({ providerSubscriptionId }, "checkout completed for a subscription that is not ours: ignored");
    return "unknown_subscription";
  }
  log.info(
    { subscriptionId: row.id, userId: row.userId, providerSubscriptionId },
    "subscription checkout completed",
  );
  return "linked";
};

import type Stripe from "stripe";
import { logger } from "@/lib/logger";
import { applySubscriptionSnapshot } from "../subscriptions/apply-subscription-snapshot";
import { lockSubscriptionForEvent } from "../subscriptions/lock-subscription";
import { requirePinnedApiVersion } from "./pinned-api-version";
import type { WebhookHandler } from "./types";

/**
 * `customer.subscription.created` and `customer.subscription.updated`: link the provider's subscription
 * to our row (by our id in its metadata) and record its state, only ever forward
 * (applySubscriptionSnapshot). Never grants: a subscription can be created, and even reported `active`,
 * before or without its first payment going through, and only `invoice.paid` turns money into credits.
 */
export const handleCustomerSubscriptionSnapshot: WebhookHandler = async (tx, event) => {
  requirePinnedApiVersion(event);
  const object = event.data.object as Stripe.Subscription;
  const customerId = typeof object.customer === "string" ? object.customer : object.customer?.id;
  const row = await lockSubscriptionForEvent(tx, {
    providerSubscriptionId: object.id,
    ourId: object.metadata?.subscriptionId,
    customerId,
  });
  const log = logger.child({ eventId: event.id, providerSubscriptionId: object.id });
  if (!row) {
    log.warn({ metadata: object.metadata }, `${event.type} for a subscription that is not ours: ignored`);
    return "unknown_subscription";
  }
  const outcome = await applySubscriptionSnapshot(tx, row, object, new Date(event.created * 1000));
  log.info(
    { subscriptionId: row.id, userId: row.userId, status: object.status, outcome },
    "subscription state",
  );
  return outcome;
};

/** `customer.subscription.created`: links and records, never grants (see handleCustomerSubscriptionSnapshot). */
export const handleCustomerSubscriptionCreated = handleCustomerSubscriptionSnapshot;

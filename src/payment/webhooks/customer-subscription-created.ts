import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import {
  adoptExternalSubscription,
  SubscriptionNotAdoptableError,
} from "../subscriptions/adopt-external-subscription";
import { applySubscriptionSnapshot } from "../subscriptions/apply-subscription-snapshot";
import { lockSubscriptionForEvent } from "../subscriptions/lock-subscription";
import { requirePinnedApiVersion } from "./pinned-api-version";
import type { WebhookContext, WebhookHandler } from "./types";

/**
 * The provider's current object when this report ties with the state we hold (same second, another
 * status or period): the events alone cannot say which came last. Read without a lock and asked before
 * the row is locked, so no row waits on the network; applySubscriptionSnapshot re-checks the tie under the
 * lock and uses the object only then. Undefined when there is no tie or no provider to ask.
 */
async function currentObjectIfTied(
  tx: DatabaseOrTransaction,
  object: Stripe.Subscription,
  at: Date,
  context: WebhookContext | undefined,
): Promise<Stripe.Subscription | undefined> {
  if (!context?.provider) return undefined;
  const [held] = await tx
    .select({
      status: subscription.status,
      stateAt: subscription.stateAt,
      currentPeriodEnd: subscription.currentPeriodEnd,
    })
    .from(subscription)
    .where(eq(subscription.providerSubscriptionId, object.id));
  if (!held?.stateAt || held.stateAt.getTime() !== at.getTime()) return undefined;
  const periodEnd = object.items?.data?.[0]?.current_period_end;
  const samePeriod = periodEnd == null || held.currentPeriodEnd?.getTime() === periodEnd * 1000;
  if (held.status === object.status && samePeriod) return undefined;
  return context.provider().retrieveSubscription(object.id, tx);
}

/**
 * `customer.subscription.created`, `.updated` and `.deleted`: link the provider's subscription to our row
 * (by our id in its metadata) and record its state, only ever forward (applySubscriptionSnapshot): an
 * older report is ignored, a terminal state never reopens, and two reports in the same second are settled
 * by the provider's current object. A subscription started outside the app (no `subscriptionId` in its
 * metadata) is adopted when it is plainly ours (adopt-external-subscription.ts: `adopted`), else ignored
 * (`unknown_subscription`). Never grants: a subscription can be created, and even reported
 * `active`, before or without its first payment going through, and only `invoice.paid` turns money into
 * credits.
 */
export const handleCustomerSubscriptionSnapshot: WebhookHandler = async (tx, event, context) => {
  requirePinnedApiVersion(event);
  const object = event.data.object as Stripe.Subscription;
  const at = new Date(event.created * 1000);
  const current = await currentObjectIfTied(tx, object, at, context);
  const customerId = typeof object.customer === "string" ? object.customer : object.customer?.id;
  const found = await lockSubscriptionForEvent(tx, {
    providerSubscriptionId: object.id,
    ourId: object.metadata?.subscriptionId,
    customerId,
  });
  const log = logger.child({ eventId: event.id, providerSubscriptionId: object.id });
  let row = found;
  if (!row && !object.metadata?.subscriptionId) {
    // Started outside the app: adopted when it is plainly ours (a customer we made, a price of ours).
    // One that is not stays unknown here: its state grants nothing, and its invoice.paid, where money
    // went unanswered, is what is stored for an operator (invoice-paid.ts). Refusing every state report of
    // a Stripe account's other products would bury that one in noise.
    try {
      const adoption = await adoptExternalSubscription(tx, object, at, { eventId: event.id });
      if (adoption.adopted) return "adopted";
      row = adoption.row;
    } catch (error) {
      if (!(error instanceof SubscriptionNotAdoptableError)) throw error;
      log.warn({ reason: error.message }, `${event.type} for a subscription that is not ours: ignored`);
      return "unknown_subscription";
    }
  }
  if (!row) {
    log.warn({ metadata: object.metadata }, `${event.type} for a subscription that is not ours: ignored`);
    return "unknown_subscription";
  }
  const outcome = await applySubscriptionSnapshot(tx, row, object, at, { current });
  log.info(
    {
      subscriptionId: row.id,
      userId: row.userId,
      status: object.status,
      currentStatus: current?.status,
      outcome,
    },
    "subscription state",
  );
  return outcome;
};

/** `customer.subscription.created`: links and records, never grants (see handleCustomerSubscriptionSnapshot). */
export const handleCustomerSubscriptionCreated = handleCustomerSubscriptionSnapshot;

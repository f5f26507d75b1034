import { CreditsError } from "@/credits/errors";

/** The plan does not exist, is not on sale, is the free plan (nothing to subscribe to) or is not offered yet. */
export class PlanUnavailableError extends CreditsError<"plan_unavailable"> {
  constructor(planId: string, message = "This plan does not exist or cannot be subscribed to.") {
    super("plan_unavailable", message, { context: { planId } });
  }
}

/**
 * The user already has a subscription (or one being paid for): a second would charge them twice for
 * credits they already get. Changing plan is its own operation.
 */
export class SubscriptionExistsError extends CreditsError<"subscription_exists"> {
  constructor(context: { subscriptionId: string; status: string }) {
    super("subscription_exists", "You already have a subscription.", { context });
  }
}

/** The sandbox's clock moves only a subscription that renews: not one still unpaid, or one that ended. */
export class SubscriptionNotAdvanceableError extends CreditsError<"subscription_not_advanceable"> {
  constructor(context: { subscriptionId: string; status: string }) {
    super(
      "subscription_not_advanceable",
      `A subscription that is ${context.status} has no renewal to move to.`,
      {
        context,
      },
    );
  }
}

/**
 * The card could not be kept on file: the provider declined to attach it (Stripe's test mode refuses
 * 4000 0000 0000 0002 this way). The card on file stays as it was.
 */
export class CardDeclinedError extends CreditsError<"card_declined"> {
  constructor(message: string, context: { declineCode: string }) {
    super("card_declined", message, { context });
  }
}

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

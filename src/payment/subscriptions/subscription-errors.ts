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

/**
 * The payment a change asked for needs the cardholder to authenticate it (3-D Secure; the sandbox's
 * 4000 0000 0000 3155 on file): a plan change paid with `pending_if_incomplete` is then not applied, so
 * nothing changed (plan, period, credits, no charge). Not a decline: the card is good, the bank wants the
 * customer to confirm, which a change made without them present cannot do.
 */
export class AuthenticationRequiredError extends CreditsError<"authentication_required"> {
  constructor(context: { subscriptionId: string }) {
    super(
      "authentication_required",
      "Your bank asks you to authenticate this payment, so nothing changed: the plan and your credits are as they were and nothing was charged.",
      { context },
    );
  }
}

/**
 * PATCH /api/credits/subscription named the plan the subscription is already on, with no change scheduled
 * to take back: there is nothing to change, and charging a proration of 0 would only make noise.
 */
export class PlanUnchangedError extends CreditsError<"plan_unchanged"> {
  constructor(context: { subscriptionId: string; planId: string }) {
    super("plan_unchanged", "Your subscription is already on this plan.", { context });
  }
}

/**
 * The subscription cannot change plan now: it is not paid up (`incomplete`, `past_due`: pay or change the
 * card first, as Stripe's portal asks), or its period is over and its renewal is still due.
 */
export class SubscriptionNotChangeableError extends CreditsError<"subscription_not_changeable"> {
  constructor(context: { subscriptionId: string; status: string }, message?: string) {
    super(
      "subscription_not_changeable",
      message ?? `A subscription that is ${context.status} cannot change plan.`,
      { context },
    );
  }
}

import Stripe from "stripe";
import { logger } from "@/lib/logger";
import {
  type CreatedPaymentIntent,
  type CreatePaymentIntentRequest,
  type PaymentProvider,
  PaymentProviderUnavailableError,
  type PlanChangeOutcome,
  type StartedSubscription,
  SubscriptionsUnavailableError,
} from "../types";

export class StripePaymentProvider implements PaymentProvider {
  readonly name = "stripe" as const;

  constructor(private readonly stripe: Stripe) {}

  async createPaymentIntent(request: CreatePaymentIntentRequest): Promise<CreatedPaymentIntent> {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency,
          description: request.description,
          automatic_payment_methods: { enabled: true },
          metadata: request.metadata,
        },
        { idempotencyKey: request.idempotencyKey },
      );
      if (!intent.client_secret) throw new Error("Stripe returned a PaymentIntent without a client secret");
      return { id: intent.id, clientSecret: intent.client_secret };
    } catch (error) {
      const reason =
        error instanceof Stripe.errors.StripeError
          ? `${error.type}${error.statusCode ? ` ${error.statusCode}` : ""}: ${error.message}`
          : error instanceof Error
            ? error.message
            : String(error);
      logger.error(
        { purchaseId: request.metadata.purchaseId, reason },
        "stripe: creating the PaymentIntent failed",
      );
      throw new PaymentProviderUnavailableError(`The payment service is unavailable: ${reason}`, error);
    }
  }

  async *listSucceededPaymentIntents(since: Date): AsyncIterable<Stripe.PaymentIntent> {
    const created = { gte: Math.floor(since.getTime() / 1000) };
    for await (const intent of this.stripe.paymentIntents.list({ created, limit: 100 })) {
      if (intent.status === "succeeded") yield intent;
    }
  }

  async retrievePaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent | undefined> {
    try {
      return await this.stripe.paymentIntents.retrieve(paymentIntentId);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "resource_missing") {
        return undefined;
      }
      throw unavailable(error, paymentIntentId, "retrieving the PaymentIntent failed");
    }
  }

  async cancelPaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent> {
    try {
      return await this.stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: "abandoned" });
    } catch (error) {
      // Already canceled, succeeded or processing: Stripe refuses with payment_intent_unexpected_state.
      // What the caller needs is the state it is in, so that a payment that went through is granted.
      if (
        error instanceof Stripe.errors.StripeInvalidRequestError &&
        error.code === "payment_intent_unexpected_state"
      ) {
        const intent = await this.retrievePaymentIntent(paymentIntentId);
        if (intent) return intent;
      }
      throw unavailable(error, paymentIntentId, "canceling the PaymentIntent failed");
    }
  }

  async refundPayment(request: { paymentIntentId: string; amount?: number; idempotencyKey: string }) {
    try {
      const refund = await this.stripe.refunds.create(
        { payment_intent: request.paymentIntentId, ...(request.amount ? { amount: request.amount } : {}) },
        { idempotencyKey: request.idempotencyKey },
      );
      return { refundId: refund.id };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({ paymentIntentId: request.paymentIntentId, reason }, "stripe: refund failed");
      throw new PaymentProviderUnavailableError(`The refund could not be created: ${reason}`, error);
    }
  }

  /**
   * Not yet: Stripe customers, prices and Checkout in subscription mode come with the Stripe side of
   * subscriptions. Refusing here, before anything is created at Stripe, keeps the sandbox's flows usable
   * while no Stripe customer or charge can be made half-way.
   */
  async ensureCustomer(): Promise<string> {
    throw new SubscriptionsUnavailableError(this.name);
  }

  async startSubscription(): Promise<StartedSubscription> {
    throw new SubscriptionsUnavailableError(this.name);
  }

  async setCancelAtPeriodEnd(): Promise<void> {
    throw new SubscriptionsUnavailableError(this.name);
  }

  async changeSubscriptionPlan(): Promise<PlanChangeOutcome> {
    throw new SubscriptionsUnavailableError(this.name);
  }

  async expireIncompleteSubscription(): Promise<void> {
    throw new SubscriptionsUnavailableError(this.name);
  }

  /** `GET /v1/subscriptions/:id` in the pinned API version; undefined when Stripe has no such subscription. */
  async retrieveSubscription(providerSubscriptionId: string): Promise<Stripe.Subscription | undefined> {
    try {
      return await this.stripe.subscriptions.retrieve(providerSubscriptionId);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "resource_missing") {
        return undefined;
      }
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({ providerSubscriptionId, reason }, "stripe: retrieving the subscription failed");
      throw new PaymentProviderUnavailableError(`The payment service is unavailable: ${reason}`, error);
    }
  }
}

function unavailable(error: unknown, paymentIntentId: string, what: string): PaymentProviderUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  logger.error({ paymentIntentId, reason }, `stripe: ${what}`);
  return new PaymentProviderUnavailableError(`The payment service is unavailable: ${reason}`, error);
}

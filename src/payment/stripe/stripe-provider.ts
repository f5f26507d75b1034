import { createHash } from "node:crypto";
import Stripe from "stripe";
import { listPlansOnSale, type Plan } from "@/catalog/plans";
import { publicUrl } from "@/config/env";
import { CreditsError } from "@/credits/errors";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { planChangeTiming } from "../sandbox/change-sandbox-plan";
import { planOfPrice } from "../subscriptions/plan-prices";
import {
  AuthenticationRequiredError,
  CardDeclinedError,
  PlanUnchangedError,
  SubscriptionNotChangeableError,
} from "../subscriptions/subscription-errors";
import {
  type CreatedPaymentIntent,
  type CreatePaymentIntentRequest,
  type InvoiceOfPayment,
  type OffSessionCharge,
  type OffSessionChargeRequest,
  offSessionOutcome,
  PaymentCustomerMissingError,
  PaymentMethodMissingError,
  type PaymentProvider,
  PaymentProviderUnavailableError,
  type PlanChangeOutcome,
  RefundRefusedError,
  type SetupIntentState,
  type StartedSubscription,
  type StartSubscriptionRequest,
} from "../types";
import { ensureStripePrice } from "./stripe-plan-price";

export class StripePaymentProvider implements PaymentProvider {
  readonly name = "stripe" as const;

  /** `db`: where plan prices are recorded (plan_price); needed by the subscription methods only. */
  constructor(
    private readonly stripe: Stripe,
    private readonly db?: Database,
  ) {}

  async createPaymentIntent(request: CreatePaymentIntentRequest): Promise<CreatedPaymentIntent> {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency,
          description: request.description,
          automatic_payment_methods: { enabled: true },
          metadata: request.metadata,
          ...(request.customerId ? { customer: request.customerId } : {}),
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
      const missing = missingCustomer(error, request.customerId);
      if (missing) throw missing;
      logger.error(
        { purchaseId: request.metadata.purchaseId, reason },
        "stripe: creating the PaymentIntent failed",
      );
      throw new PaymentProviderUnavailableError(`The payment service is unavailable: ${reason}`, error);
    }
  }

  /**
   * `POST /v1/setup_intents` with `usage: off_session` on the user's customer and `metadata.userId`. https://docs.stripe.com/payments/save-and-reuse
   */
  async createSetupIntent(request: {
    customerId: string;
    userId: string;
    idempotencyKey: string;
  }): Promise<CreatedPaymentIntent> {
    try {
      const intent = await this.stripe.setupIntents.create(
        {
          customer: request.customerId,
          usage: "off_session",
          automatic_payment_methods: { enabled: true },
          metadata: { userId: request.userId },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      if (!intent.client_secret) throw new Error("Stripe returned a SetupIntent without a client secret");
      return { id: intent.id, clientSecret: intent.client_secret };
    } catch (error) {
      const missing = missingCustomer(error, request.customerId);
      if (missing) throw missing;
      throw unavailable(error, request.customerId, "creating the SetupIntent failed");
    }
  }

  /** `GET /v1/setup_intents/:id` with the payment method expanded (its card's brand and last four digits). */
  async retrieveSetupIntent(setupIntentId: string): Promise<SetupIntentState | undefined> {
    let intent: Stripe.SetupIntent;
    try {
      intent = await this.stripe.setupIntents.retrieve(setupIntentId, { expand: ["payment_method"] });
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "resource_missing")
        return undefined;
      throw unavailable(error, setupIntentId, "retrieving the SetupIntent failed");
    }
    const method = intent.payment_method;
    const card = method && typeof method === "object" ? method.card : null;
    const methodId = typeof method === "string" ? method : (method?.id ?? null);
    return {
      id: intent.id,
      status: intent.status,
      customerId: typeof intent.customer === "string" ? intent.customer : (intent.customer?.id ?? null),
      userId: typeof intent.metadata?.userId === "string" ? intent.metadata.userId : null,
      created: new Date(intent.created * 1000),
      paymentMethod: methodId && card ? { id: methodId, brand: card.brand, last4: card.last4 } : null,
    };
  }

  /**
   * `POST /v1/payment_intents` with `off_session: true, confirm: true`, the customer and the saved payment
   * method (https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method). Stripe answers a
   * decline or `authentication_required` with a 402 card error carrying the PaymentIntent: that is an
   * outcome here (offSessionOutcome), not an error.
   */
  async chargeOffSession(request: OffSessionChargeRequest): Promise<OffSessionCharge> {
    try {
      const intent = await this.stripe.paymentIntents.create(
        {
          amount: request.amount,
          currency: request.currency,
          description: request.description,
          customer: request.customerId,
          payment_method: request.paymentMethodId,
          // Off-session: nobody is there to follow a redirect, so methods that need one are left out.
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
          off_session: true,
          confirm: true,
          metadata: request.metadata,
        },
        { idempotencyKey: request.idempotencyKey },
      );
      return offSessionOutcome(intent);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError && error.payment_intent)
        return offSessionOutcome(error.payment_intent);
      const missing = missingCustomer(error, request.customerId);
      if (missing) throw missing;
      // The saved card detached (in the Dashboard, or by the customer): Stripe refuses the request before
      // any charge (resource_missing on payment_method).
      if (
        error instanceof Stripe.errors.StripeInvalidRequestError &&
        error.code === "resource_missing" &&
        error.param === "payment_method"
      )
        throw new PaymentMethodMissingError(request.paymentMethodId);
      throw unavailable(error, request.metadata.purchaseId, "the off-session charge failed");
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
      // A card or invalid-request error means Stripe made no refund; anything else (the network, a 5xx,
      // an idempotency_error) leaves it unknown, and the caller must assume it may have been made.
      if (
        error instanceof Stripe.errors.StripeCardError ||
        error instanceof Stripe.errors.StripeInvalidRequestError
      )
        throw new RefundRefusedError(`Stripe refused the refund: ${reason}`, error);
      throw new PaymentProviderUnavailableError(`The refund could not be created: ${reason}`, error);
    }
  }

  /**
   * `POST /v1/customers` with the user's email and `metadata.userId`; ensurePaymentCustomer stores it and
   * reuses it after. The idempotency key `customer:<userId>:<replacing or "first">:<10-second window>`
   * makes two concurrent first uses (a double click) one customer, while a failed call blocks the user for
   * ten seconds at most: Stripe answers a key's first result, a 500 included, to every retry for 24 hours
   * (https://docs.stripe.com/api/idempotent_requests). Two calls in different windows can make two
   * customers; the first one stored wins and the other stays unused.
   */
  async ensureCustomer(user: { id: string; email: string }, replacing?: string): Promise<string> {
    const window = Math.floor(Date.now() / 10_000);
    try {
      const customer = await this.stripe.customers.create(
        { email: user.email, metadata: { userId: user.id } },
        { idempotencyKey: `customer:${user.id}:${replacing ?? "first"}:${window}` },
      );
      return customer.id;
    } catch (error) {
      throw unavailable(error, { userId: user.id }, "creating the customer failed");
    }
  }

  /**
   * A Checkout Session in subscription mode (https://docs.stripe.com/payments/checkout/build-subscriptions):
   * Stripe's hosted page collects the card, handles authentication and creates the subscription, so no
   * card data or SCA flow lives in this app, and the customer portal manages what Checkout started. The
   * Payment Element with a subscription was the other way; it needs our own page for every step Checkout
   * and the portal already do. The session names the user's customer (one per user, reused for packages),
   * the plan's price (ensureStripePrice), our row's id as `client_reference_id` and in the metadata of
   * the session and of the subscription it creates (`subscription_data.metadata`), which every later
   * `customer.subscription.*` and `invoice.*` event carries back. Idempotency key
   * `subscription-checkout:<our id>`: asking again answers the same session.
   */
  async startSubscription(request: StartSubscriptionRequest): Promise<StartedSubscription> {
    const { plan, subscriptionId, userId } = request;
    const metadata = { subscriptionId, userId, planId: plan.id };
    const base = publicUrl();
    try {
      const price = await ensureStripePrice(this.database(), this.stripe, plan);
      const session = await this.stripe.checkout.sessions.create(
        {
          mode: "subscription",
          customer: request.customerId,
          client_reference_id: subscriptionId,
          line_items: [{ price, quantity: 1 }],
          metadata,
          // A trial the server offered (once per user ever, start-subscription.ts): Checkout still collects
          // the card, and Stripe's $0 first invoice grants the trial's credits (grant-trial-credits.ts).
          subscription_data: {
            metadata,
            ...(request.trialDays ? { trial_period_days: request.trialDays } : {}),
          },
          success_url: `${base}/settings/credits?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
          cancel_url: `${base}/settings/credits?checkout=canceled`,
        },
        { idempotencyKey: `subscription-checkout:${subscriptionId}` },
      );
      if (!session.url) throw new Error("Stripe returned a Checkout Session without a URL");
      return { kind: "checkout", checkoutSessionId: session.id, checkoutUrl: session.url };
    } catch (error) {
      throw (
        missingCustomer(error, request.customerId) ??
        unavailable(error, { subscriptionId }, "starting the subscription checkout failed")
      );
    }
  }

  /**
   * `cancel_at_period_end` on the subscription. A subscription run by a schedule (a downgrade waiting for
   * the period's end) refuses cancellation fields, and cancelling drops the waiting change anyway, so the
   * schedule is released first.
   */
  async setCancelAtPeriodEnd(providerSubscriptionId: string, cancel: boolean): Promise<void> {
    try {
      const current = await this.stripe.subscriptions.retrieve(providerSubscriptionId);
      const scheduleId = idOf(current.schedule);
      if (scheduleId) await this.stripe.subscriptionSchedules.release(scheduleId);
      await this.stripe.subscriptions.update(providerSubscriptionId, { cancel_at_period_end: cancel });
    } catch (error) {
      throw unavailable(error, { providerSubscriptionId }, "changing the cancellation failed");
    }
  }

  /**
   * Moves the subscription to `plan` (PaymentProvider.changeSubscriptionPlan), when planChangeTiming says:
   * - now (an upgrade, monthly → yearly): `subscriptions.update` of the item's price with
   *   `proration_behavior: always_invoice` and `payment_behavior: pending_if_incomplete`
   *   (https://docs.stripe.com/billing/subscriptions/pending-updates): the proration invoice is charged at
   *   once, and the change applies only if it is paid; unpaid, Stripe answers the subscription with a
   *   `pending_update` and nothing changed (CardDeclinedError, or AuthenticationRequiredError when the
   *   invoice's PaymentIntent `requires_action`). A downgrade waiting is released first.
   * - at the period's end (a downgrade, yearly → monthly): a subscription schedule
   *   (https://docs.stripe.com/billing/subscriptions/subscription-schedules) whose current phase ends with
   *   the period and whose next phase is the new price, released when it starts (`end_behavior: release`).
   * - the plan in force while a change waits: the schedule is released (`unscheduled`).
   * Errors: PlanUnchangedError, SubscriptionNotChangeableError (not `active`), CardDeclinedError,
   * AuthenticationRequiredError, PaymentProviderUnavailableError.
   */
  async changeSubscriptionPlan(providerSubscriptionId: string, plan: Plan): Promise<PlanChangeOutcome> {
    try {
      return await this.changePlan(providerSubscriptionId, plan);
    } catch (error) {
      if (error instanceof CreditsError) throw error;
      throw unavailable(error, { providerSubscriptionId }, "changing the plan failed");
    }
  }

  private async changePlan(providerSubscriptionId: string, plan: Plan): Promise<PlanChangeOutcome> {
    const db = this.database();
    const current = await this.stripe.subscriptions.retrieve(providerSubscriptionId);
    const item = current.items.data[0];
    if (!item) throw new Error(`Stripe subscription ${providerSubscriptionId} has no item`);
    const inForce = await planOfPrice(db, item.price.id);
    const scheduleId = idOf(current.schedule);
    if (inForce.id === plan.id) {
      if (!scheduleId)
        throw new PlanUnchangedError({ subscriptionId: providerSubscriptionId, planId: plan.id });
      await this.stripe.subscriptionSchedules.release(scheduleId);
      return { kind: "unscheduled" };
    }
    if (current.status !== "active")
      throw new SubscriptionNotChangeableError({
        subscriptionId: providerSubscriptionId,
        status: current.status,
      });
    const price = await ensureStripePrice(db, this.stripe, plan);

    if (planChangeTiming(inForce, plan) === "now") {
      if (scheduleId) await this.stripe.subscriptionSchedules.release(scheduleId);
      const updated = await this.stripe.subscriptions.update(providerSubscriptionId, {
        items: [{ id: item.id, price }],
        proration_behavior: "always_invoice",
        payment_behavior: "pending_if_incomplete",
        expand: ["latest_invoice.payments"],
      });
      const invoice = typeof updated.latest_invoice === "object" ? updated.latest_invoice : null;
      if (updated.pending_update || !invoice || invoice.status !== "paid") {
        logger.warn(
          { providerSubscriptionId, invoiceId: invoice?.id, planId: plan.id },
          "stripe: the plan change's invoice was not paid; the subscription stays on its plan",
        );
        // A payment the bank wants authenticated (`requires_action`) is told apart from a decline: the
        // customer can pay it by authenticating, which a new card would not need.
        const payment = invoice?.payments?.data.find((entry) => entry.payment?.type === "payment_intent");
        const intentId = idOf(payment?.payment?.payment_intent ?? null);
        const intent = intentId ? await this.retrievePaymentIntent(intentId) : undefined;
        if (intent?.status === "requires_action")
          throw new AuthenticationRequiredError({ subscriptionId: providerSubscriptionId });
        throw new CardDeclinedError(
          "The card on file was declined or needs the customer's authentication; the plan was not changed.",
          { declineCode: "pending_update" },
        );
      }
      return { kind: "changed_now", invoiceId: invoice.id ?? "" };
    }

    const periodEnd = item.current_period_end;
    const schedule = scheduleId
      ? await this.stripe.subscriptionSchedules.retrieve(scheduleId)
      : await this.stripe.subscriptionSchedules.create({ from_subscription: providerSubscriptionId });
    const phaseStart =
      schedule.current_phase?.start_date ?? schedule.phases[0]?.start_date ?? item.current_period_start;
    await this.stripe.subscriptionSchedules.update(schedule.id, {
      end_behavior: "release",
      proration_behavior: "none",
      phases: [
        { items: [{ price: item.price.id, quantity: 1 }], start_date: phaseStart, end_date: periodEnd },
        { items: [{ price, quantity: 1 }], duration: { interval: plan.interval, interval_count: 1 } },
      ],
    });
    return { kind: "scheduled", at: new Date(periodEnd * 1000) };
  }

  /**
   * Cancels a subscription still waiting for its first payment: Stripe ends an `incomplete` one as
   * `incomplete_expired` (https://docs.stripe.com/billing/subscriptions/overview#subscription-statuses).
   * Anything else is left alone.
   */
  async expireIncompleteSubscription(providerSubscriptionId: string): Promise<void> {
    try {
      const current = await this.stripe.subscriptions.retrieve(providerSubscriptionId);
      if (current.status === "incomplete") await this.stripe.subscriptions.cancel(providerSubscriptionId);
    } catch (error) {
      throw unavailable(error, { providerSubscriptionId }, "expiring the unpaid subscription failed");
    }
  }

  /**
   * Expires an open Checkout Session (`POST /v1/checkout/sessions/:id/expire`), so it can no longer be
   * paid; one already completed or expired is answered as it is. Returns its status afterwards.
   */
  async expireCheckout(checkoutSessionId: string): Promise<"expired" | "complete"> {
    try {
      const session = await this.stripe.checkout.sessions.retrieve(checkoutSessionId);
      if (session.status === "complete") return "complete";
      if (session.status !== "open") return "expired";
      const expired = await this.stripe.checkout.sessions.expire(checkoutSessionId);
      return expired.status === "complete" ? "complete" : "expired";
    } catch (error) {
      throw unavailable(error, { checkoutSessionId }, "expiring the checkout failed");
    }
  }

  /**
   * A customer portal session (https://docs.stripe.com/customer-management): Stripe's page where the
   * customer changes the card, switches plans and cancels; its changes come back as the same events.
   */
  async createBillingPortalSession(customerId: string, returnUrl: string): Promise<{ url: string }> {
    try {
      const configuration = await this.portalConfiguration();
      const session = await this.stripe.billingPortal.sessions.create({
        customer: customerId,
        return_url: returnUrl,
        configuration,
      });
      return { url: session.url };
    } catch (error) {
      throw (
        missingCustomer(error, customerId) ??
        unavailable(error, { customerId }, "opening the customer portal failed")
      );
    }
  }

  /**
   * The PaymentIntent that paid an invoice, from `GET /v1/invoice_payments?invoice=` (since API version
   * 2025-03-31 an invoice names its payments there, and webhook events do not expand them).
   */
  async retrieveInvoicePaymentIntent(invoiceId: string): Promise<string | undefined> {
    try {
      const payments = await this.stripe.invoicePayments.list({ invoice: invoiceId, limit: 10 });
      const paid =
        payments.data.find((payment) => payment.status === "paid") ?? payments.data.find((p) => p.is_default);
      const intent = paid?.payment?.type === "payment_intent" ? paid.payment.payment_intent : undefined;
      return typeof intent === "string" ? intent : intent?.id;
    } catch (error) {
      throw unavailable(error, { invoiceId }, "listing the invoice's payments failed");
    }
  }

  /**
   * The subscription invoice a PaymentIntent paid: `GET /v1/invoice_payments` filtered by the payment,
   * with the invoice expanded (one request). Undefined when the PaymentIntent paid no invoice, or an
   * invoice of no subscription.
   */
  async retrieveInvoiceOfPayment(paymentIntentId: string): Promise<InvoiceOfPayment | undefined> {
    try {
      const payments = await this.stripe.invoicePayments.list({
        payment: { type: "payment_intent", payment_intent: paymentIntentId },
        expand: ["data.invoice"],
        limit: 10,
      });
      for (const payment of payments.data) {
        const invoice = payment.invoice;
        if (typeof invoice === "string" || !invoice || "deleted" in invoice) continue;
        const details =
          invoice.parent?.type === "subscription_details" ? invoice.parent.subscription_details : null;
        if (!details || !invoice.id) continue;
        return {
          invoiceId: invoice.id,
          providerSubscriptionId:
            typeof details.subscription === "string" ? details.subscription : details.subscription.id,
          ourSubscriptionId: details.metadata?.subscriptionId ?? null,
          customerId:
            typeof invoice.customer === "string" ? invoice.customer : (invoice.customer?.id ?? null),
          amountPaid: payment.amount_paid ?? invoice.amount_paid,
          currency: invoice.currency,
        };
      }
      return undefined;
    } catch (error) {
      throw unavailable(error, { paymentIntentId }, "finding the invoice of a payment failed");
    }
  }

  /**
   * The portal configuration that applies this app's plan rules in Stripe's portal, made once and found
   * again by its metadata (`creditkit`: a digest of the plans' prices), so a catalog change makes a new
   * one and nobody configures the portal by hand:
   * - switching between the plans on sale (each plan's price, ensureStripePrice), an upgrade invoiced at
   *   once (`proration_behavior: always_invoice`: its `invoice.paid` grants the difference), a downgrade
   *   or a shorter interval at the period's end (`schedule_at_period_end`: a subscription schedule, as
   *   changeSubscriptionPlan makes);
   * - cancelling at the period's end only (the period's credits stay; nothing is refunded);
   * - updating the card; the invoice history.
   * https://docs.stripe.com/api/customer_portal/configurations/create
   */
  private async portalConfiguration(): Promise<string> {
    const db = this.database();
    const plans = listPlansOnSale().filter((plan) => plan.price !== null);
    const priceIds = await Promise.all(plans.map((plan) => ensureStripePrice(db, this.stripe, plan)));
    const digest = createHash("sha256").update(priceIds.join(",")).digest("hex").slice(0, 16);
    for await (const existing of this.stripe.billingPortal.configurations.list({
      active: true,
      limit: 100,
    })) {
      if (existing.metadata?.creditkit === digest) return existing.id;
    }
    const prices = await Promise.all(priceIds.map((id) => this.stripe.prices.retrieve(id)));
    const configuration = await this.stripe.billingPortal.configurations.create(
      {
        name: "creditkit plans",
        metadata: { creditkit: digest },
        features: {
          invoice_history: { enabled: true },
          payment_method_update: { enabled: true },
          subscription_cancel: { enabled: true, mode: "at_period_end", proration_behavior: "none" },
          subscription_update: {
            enabled: true,
            default_allowed_updates: ["price"],
            proration_behavior: "always_invoice",
            products: prices.map((price) => ({
              product: typeof price.product === "string" ? price.product : price.product.id,
              prices: [price.id],
            })),
            schedule_at_period_end: {
              conditions: [{ type: "decreasing_item_amount" }, { type: "shortening_interval" }],
            },
          },
        },
      },
      { idempotencyKey: `portal-configuration:${digest}` },
    );
    return configuration.id;
  }

  private database(): Database {
    if (!this.db) throw new Error("the Stripe provider needs the database for subscriptions");
    return this.db;
  }

  /** `GET /v1/invoices/:id` in the pinned API version; undefined when Stripe has no such invoice. */
  async retrieveInvoice(invoiceId: string): Promise<Stripe.Invoice | undefined> {
    try {
      return await this.stripe.invoices.retrieve(invoiceId);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === "resource_missing") {
        return undefined;
      }
      throw unavailable(error, { invoiceId }, "retrieving the invoice failed");
    }
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

/**
 * Stripe answered that a customer the app stored does not exist (deleted in the Dashboard, or an id of
 * the other mode after the keys changed): PaymentCustomerMissingError, so the caller replaces it.
 */
function missingCustomer(
  error: unknown,
  customerId: string | undefined,
): PaymentCustomerMissingError | undefined {
  return customerId &&
    error instanceof Stripe.errors.StripeInvalidRequestError &&
    error.code === "resource_missing" &&
    (error.param === "customer" || /^No such customer/.test(error.message))
    ? new PaymentCustomerMissingError(customerId)
    : undefined;
}

function unavailable(
  error: unknown,
  context: string | Record<string, string>,
  what: string,
): PaymentProviderUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  logger.error(
    { ...(typeof context === "string" ? { paymentIntentId: context } : context), reason },
    `stripe: ${what}`,
  );
  return new PaymentProviderUnavailableError(`The payment service is unavailable: ${reason}`, error);
}

/** The id of an expandable reference (a string id or the object), or undefined. */
function idOf(reference: string | { id: string } | null | undefined): string | undefined {
  return typeof reference === "string" ? reference : reference?.id;
}

import type Stripe from "stripe";
import { z } from "zod";
import type { Plan } from "@/catalog/plans";
import { CreditsError } from "@/credits/errors";
import type { DatabaseOrTransaction } from "@/db/types";

export type PaymentProviderName = "stripe" | "sandbox";

/** What the server writes into every PaymentIntent it creates, and checks when the webhook returns. */
export const purchaseMetadataSchema = z.object({
  purchaseId: z.uuid(),
  userId: z.string().min(1),
  packageId: z.string().min(1),
});
export type PurchaseMetadata = z.infer<typeof purchaseMetadataSchema>;

export type CreatePaymentIntentRequest = {
  amount: number;
  currency: string;
  description: string;
  metadata: PurchaseMetadata;
  /** Derived from the purchase id so a retried request can never create a second PaymentIntent. */
  idempotencyKey: string;
  /** The user's customer at the provider (one per user, shared with subscriptions), when known. */
  customerId?: string;
};

export type CreatedPaymentIntent = { id: string; clientSecret: string };

/** What an auto top-up's PaymentIntent carries besides a purchase's: the attempt it charges. */
export const autoTopUpMetadataSchema = purchaseMetadataSchema.extend({ autoTopUpAttemptId: z.uuid() });
export type AutoTopUpMetadata = z.infer<typeof autoTopUpMetadataSchema>;

/**
 * An off-session charge of a saved card (auto top-up): Stripe's `POST /v1/payment_intents` with
 * `off_session: true, confirm: true`, the customer and the payment method, under `idempotencyKey`
 * (`auto-top-up:<attempt id>`), so a retried charge of one attempt answers the same PaymentIntent.
 */
export type OffSessionChargeRequest = Omit<CreatePaymentIntentRequest, "metadata" | "customerId"> & {
  metadata: AutoTopUpMetadata;
  customerId: string;
  paymentMethodId: string;
};

/**
 * What an off-session charge came to. `requires_action`: the bank wants the cardholder to authenticate
 * (Stripe answers 402 `authentication_required` and leaves the PaymentIntent `requires_payment_method`;
 * the customer completes it on-session with the client secret). `failed`: declined (`error.declineCode`).
 * `processing`: not decided yet; its webhook settles it.
 */
export type OffSessionCharge = {
  paymentIntentId: string;
  clientSecret: string | null;
  status: "succeeded" | "processing" | "requires_action" | "failed";
  error: { code: string; declineCode: string | null; message: string } | null;
};

/** A SetupIntent as auto top-up needs it (Stripe-shaped fields, read by the server from the provider). */
export type SetupIntentState = {
  id: string;
  /** Stripe's SetupIntent status: only `succeeded` has a usable payment method. */
  status: string;
  customerId: string | null;
  /** `metadata.userId`, written by the server when it created the SetupIntent. */
  userId: string | null;
  created: Date;
  paymentMethod: { id: string; brand: string; last4: string } | null;
};

/**
 * Reads a PaymentIntent of an off-session charge as the four outcomes auto top-up knows. Stripe: an
 * off-session charge that needs authentication fails with `authentication_required` and the PaymentIntent
 * goes back to `requires_payment_method` (https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method);
 * `requires_action` is also read as waiting for the cardholder.
 */
export function offSessionOutcome(intent: Stripe.PaymentIntent): OffSessionCharge {
  const error = intent.last_payment_error;
  const described = error
    ? {
        code: error.code ?? "payment_failed",
        declineCode: error.decline_code ?? null,
        message: error.message ?? "The payment failed.",
      }
    : null;
  const base = { paymentIntentId: intent.id, clientSecret: intent.client_secret ?? null };
  if (intent.status === "succeeded") return { ...base, status: "succeeded", error: null };
  if (intent.status === "processing" || intent.status === "requires_capture")
    return { ...base, status: "processing", error: null };
  if (intent.status === "requires_action" || error?.code === "authentication_required")
    return {
      ...base,
      status: "requires_action",
      error: described ?? {
        code: "authentication_required",
        declineCode: null,
        message: "Authentication required.",
      },
    };
  return {
    ...base,
    status: "failed",
    error: described ?? { code: "payment_failed", declineCode: null, message: "The payment failed." },
  };
}

/** PaymentIntent statuses Stripe lets a merchant cancel (https://docs.stripe.com/api/payment_intents/cancel). */
export const CANCELABLE_PAYMENT_INTENT_STATUSES: ReadonlySet<string> = new Set([
  "requires_payment_method",
  "requires_confirmation",
  "requires_action",
  "requires_capture",
]);

/** What starting a subscription at the provider needs: our row, the customer and the plan. */
export type StartSubscriptionRequest = {
  /** Our subscription row's id: the provider's idempotency key and metadata carry it. */
  subscriptionId: string;
  userId: string;
  customerId: string;
  plan: Plan;
  /**
   * A trial of this many days before the first charge (Stripe's `subscription_data.trial_period_days`),
   * decided by the server: the plan has one and the user never had one. The card is still collected; the
   * first invoice is $0 for the trial and the plan's price is charged when the trial ends. Absent: none.
   */
  trialDays?: number;
};

/**
 * How the customer pays the first invoice: at a hosted checkout page (Stripe), or by confirming the first
 * invoice's PaymentIntent in the app (the sandbox, like a package purchase).
 */
export type StartedSubscription =
  | { kind: "checkout"; checkoutSessionId: string; checkoutUrl: string }
  | { kind: "payment"; providerSubscriptionId: string; paymentIntentId: string; clientSecret: string };

/** What a plan change did at the provider (changeSubscriptionPlan). */
export type PlanChangeOutcome =
  /** Applied now: the proration invoice (`invoiceId`) was paid and the item moved to the new price. */
  | { kind: "changed_now"; invoiceId: string }
  /** Scheduled for the end of the current period (`at`): the current plan and its credits stay until then. */
  | { kind: "scheduled"; at: Date }
  /** The change scheduled earlier was taken back: the plan in force simply renews. */
  | { kind: "unscheduled" };

export interface PaymentProvider {
  readonly name: PaymentProviderName;
  createPaymentIntent(request: CreatePaymentIntentRequest): Promise<CreatedPaymentIntent>;
  /**
   * A SetupIntent to save a card for off-session charges (`usage: off_session`) on the user's customer,
   * with `metadata.userId`; the browser confirms it (Payment Element in setup mode, or the sandbox's card
   * form). Idempotent per `idempotencyKey`. Errors: PaymentCustomerMissingError, PaymentProviderUnavailableError.
   */
  createSetupIntent(request: {
    customerId: string;
    userId: string;
    idempotencyKey: string;
  }): Promise<CreatedPaymentIntent>;
  /**
   * A SetupIntent as the provider has it now, with its payment method's card brand and last four digits;
   * undefined when the provider has none. The only source of a saved card: a payment method id sent by a
   * client is never trusted. Errors: PaymentProviderUnavailableError.
   */
  retrieveSetupIntent(setupIntentId: string): Promise<SetupIntentState | undefined>;
  /**
   * Charges a saved card off-session (auto top-up; see OffSessionChargeRequest). A decline or a demand for
   * authentication is an answer (OffSessionCharge), not an error; the PaymentIntent's webhook event follows
   * as for any payment. Errors: PaymentCustomerMissingError, PaymentMethodMissingError, PaymentProviderUnavailableError (nothing known
   * to be charged: retry with the same key).
   */
  chargeOffSession(request: OffSessionChargeRequest): Promise<OffSessionCharge>;
  /** Succeeded PaymentIntents created since a time, Stripe-shaped: what `reconcile` checks against the ledger. */
  listSucceededPaymentIntents(since: Date): AsyncIterable<Stripe.PaymentIntent>;
  /** One PaymentIntent as the provider has it now, Stripe-shaped; undefined when the provider has none. */
  retrievePaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent | undefined>;
  /**
   * Cancels a PaymentIntent nobody is paying any more (reason `abandoned`), so it can no longer be paid.
   * Returns the PaymentIntent as it is afterwards: `canceled`, or, when it could not be canceled, its
   * current state (`succeeded`: the customer paid after all; `processing`: a payment is under way).
   * Canceling one that is already canceled answers it as it is. Errors: PaymentProviderUnavailableError.
   */
  cancelPaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent>;
  /** Asks the provider to refund; the ledger changes only when the refund's event arrives. */
  refundPayment(request: {
    paymentIntentId: string;
    amount?: number;
    idempotencyKey: string;
  }): Promise<{ refundId: string }>;
  /**
   * The provider's customer for a user, made on first use (two concurrent first uses make one);
   * `replacing`: the stored customer the provider no longer has (PaymentCustomerMissingError). Errors: PaymentProviderUnavailableError.
   */
  ensureCustomer(user: { id: string; email: string }, replacing?: string): Promise<string>;
  /**
   * Starts a subscription whose first invoice the customer still has to pay; nothing is granted until
   * that invoice's `invoice.paid` arrives. Idempotent per `subscriptionId`: asking again answers the same
   * checkout or PaymentIntent. Errors: PaymentProviderUnavailableError.
   */
  startSubscription(request: StartSubscriptionRequest): Promise<StartedSubscription>;
  /**
   * Cancels the subscription at the end of its current period (`cancel` true) or takes that back: nothing
   * ends now and no credits change; the provider's `customer.subscription.updated` reports it. Errors:
   * PaymentProviderUnavailableError.
   */
  setCancelAtPeriodEnd(providerSubscriptionId: string, cancel: boolean): Promise<void>;
  /**
   * Moves a subscription to another plan the way Stripe's `subscriptions.update` does with
   * `proration_behavior: always_invoice` and `payment_behavior: pending_if_incomplete`: an upgrade (or a
   * switch of interval) is invoiced at once (the unused time of the old price credited, the new price
   * charged) and applied only when that invoice is paid; a downgrade is scheduled for the period's end
   * (a subscription schedule). Naming the plan in force takes back a scheduled change. The provider's
   * `customer.subscription.updated` and `invoice.paid` report it (the sandbox delivers them before it
   * answers). Errors: CardDeclinedError, AuthenticationRequiredError (the proration invoice was declined or
   * needs authentication: nothing changed),
   * PlanUnchangedError, SubscriptionNotChangeableError, PaymentProviderUnavailableError.
   */
  changeSubscriptionPlan(providerSubscriptionId: string, plan: Plan): Promise<PlanChangeOutcome>;
  /**
   * Ends a subscription whose first invoice was never paid (`incomplete` → `incomplete_expired`, as Stripe
   * does after 23 hours, or by `subscriptions.cancel`), so the customer can choose another plan; its event
   * is delivered (the sandbox, before it answers). Does nothing to a subscription that is not `incomplete`.
   * Errors: PaymentProviderUnavailableError.
   */
  expireIncompleteSubscription(providerSubscriptionId: string): Promise<void>;
  /**
   * Expires a hosted checkout the customer left open (a Checkout Session), so it can no longer be paid;
   * answers its status afterwards (`complete`: the customer paid after all). The sandbox has no hosted
   * checkout and answers `expired`. Errors: PaymentProviderUnavailableError.
   */
  expireCheckout(checkoutSessionId: string): Promise<"expired" | "complete">;
  /**
   * The provider's page where the customer manages the card, the plan and cancellation (Stripe's customer
   * portal), returning to `returnUrl`. Errors: BillingPortalUnavailableError (the sandbox: its own dialog
   * does this), PaymentProviderUnavailableError.
   */
  createBillingPortalSession(customerId: string, returnUrl: string): Promise<{ url: string }>;
  /**
   * The PaymentIntent that paid an invoice, asked when the invoice's event does not list its payments
   * (Stripe's events never expand them); undefined when none is known. `within`: the sandbox reads its own
   * tables through the caller's transaction (the webhook's: with PGlite's single connection another would
   * wait for it forever); Stripe ignores it. Errors: PaymentProviderUnavailableError.
   */
  retrieveInvoicePaymentIntent(
    invoiceId: string,
    within?: DatabaseOrTransaction,
  ): Promise<string | undefined>;
  /**
   * The subscription invoice a PaymentIntent paid, asked when a refund or dispute names a PaymentIntent
   * the app has no purchase for yet (the invoice's `invoice.paid` has not been applied: refused once and
   * waiting for Stripe's retry). Undefined when the PaymentIntent paid no subscription invoice (a payment
   * made outside the app). `within`: as for retrieveInvoicePaymentIntent. Stripe: `GET
   * /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=` with the invoice expanded.
   * Errors: PaymentProviderUnavailableError.
   */
  retrieveInvoiceOfPayment(
    paymentIntentId: string,
    within?: DatabaseOrTransaction,
  ): Promise<InvoiceOfPayment | undefined>;
  /**
   * A subscription as the provider has it now, Stripe-shaped (API version STRIPE_API_VERSION: periods on
   * its items); undefined when the provider has none. Webhook handlers ask it where an event alone cannot
   * tell the order of two reports. `within`: the sandbox reads its own tables through the caller's
   * transaction (the webhook's: with PGlite's single connection another would wait for it forever); Stripe
   * ignores it. Errors: PaymentProviderUnavailableError.
   */
  retrieveSubscription(
    providerSubscriptionId: string,
    within?: DatabaseOrTransaction,
  ): Promise<Stripe.Subscription | undefined>;
  /**
   * An invoice as the provider has it now, Stripe-shaped (API version STRIPE_API_VERSION: its subscription
   * under `parent.subscription_details`, each line with its period); undefined when the provider has no
   * such invoice. Asked by the payment maintenance for a subscription invoice whose `invoice.paid` never
   * came (settle-pending-invoice-purchases.ts). Stripe: `GET /v1/invoices/:id`.
   * Errors: PaymentProviderUnavailableError.
   */
  retrieveInvoice(invoiceId: string): Promise<Stripe.Invoice | undefined>;
}

/** The payment provider has no hosted page for managing a subscription (the sandbox has its own dialog). */
export class BillingPortalUnavailableError extends CreditsError<"billing_portal_unavailable"> {
  constructor(provider: PaymentProviderName) {
    super(
      "billing_portal_unavailable",
      "This payment provider has no customer portal; manage the subscription on the credits page.",
      { context: { provider } },
    );
  }
}

/**
 * The provider has no customer by the id the app stored for the user (deleted at the provider, or an id
 * of the other mode after the keys changed). Use cases replace the customer (replacePaymentCustomer) and
 * try once more; it never reaches a client as such.
 */
export class PaymentCustomerMissingError extends Error {
  constructor(readonly customerId: string) {
    super(`The payment provider has no customer ${customerId}.`);
    this.name = "PaymentCustomerMissingError";
  }
}

/**
 * The provider has no such saved payment method for the customer (detached at the provider, or the
 * sandbox's saved card gone): an off-session charge with it cannot happen, so nothing was charged.
 */
export class PaymentMethodMissingError extends Error {
  constructor(readonly paymentMethodId: string) {
    super(`The payment provider has no payment method ${paymentMethodId} for this customer.`);
    this.name = "PaymentMethodMissingError";
  }
}

/**
 * The provider answered for certain that it made no refund (Stripe: a card or invalid-request error, such
 * as an amount beyond what the charge has left): 409 `refund_not_possible`. Only this answer frees a
 * refund's reservation (refund-purchase.ts); a network error, a 5xx or an idempotency_error says nothing
 * about whether a refund was made, and is a PaymentProviderUnavailableError.
 */
export class RefundRefusedError extends CreditsError<"refund_not_possible"> {
  constructor(message: string, cause?: unknown) {
    super("refund_not_possible", message, { cause });
  }
}

/** The payment provider could not be reached, timed out, or refused the request. Safe to retry. */
export class PaymentProviderUnavailableError extends CreditsError<"payment_provider_unavailable"> {
  constructor(message: string, cause?: unknown) {
    super("payment_provider_unavailable", message, { cause });
  }
}

export class WebhookSignatureError extends CreditsError<"invalid_signature"> {
  constructor(message: string, cause?: unknown) {
    super("invalid_signature", message, { cause });
  }
}

/**
 * A verified event carries a value this code does not know how to apply (a dispute or refund status from a
 * newer API version or a new network process). Guessing could give or take credits wrongly, and
 * acknowledging it would hide it: the event fails, is stored as a failed webhook (Admin → Failed webhooks,
 * counted by `verify`), and the sender keeps retrying, so it applies once the code knows the value.
 */
export class UnknownEventValueError extends CreditsError<"unknown_event_value"> {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("unknown_event_value", message, { context });
  }
}

/**
 * A subscription invoice as a refund or dispute that arrives before its `invoice.paid` needs it: the
 * invoice, the provider's subscription (and ours, from its metadata, when the provider carries it) and the
 * money paid (minor units).
 */
export type InvoiceOfPayment = {
  invoiceId: string;
  providerSubscriptionId: string;
  ourSubscriptionId: string | null;
  customerId: string | null;
  amountPaid: number;
  currency: string;
};

import { randomBytes } from "node:crypto";
import { and, eq, gte, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { Plan } from "@/catalog/plans";
import { NotFoundError } from "@/credits/errors";
import { sandboxInvoice, sandboxPaymentIntent, sandboxSubscription } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { webhookSigningSecret } from "../payment-config";
import {
  BillingPortalUnavailableError,
  CANCELABLE_PAYMENT_INTENT_STATUSES,
  type CreatedPaymentIntent,
  type CreatePaymentIntentRequest,
  type InvoiceOfPayment,
  type OffSessionCharge,
  type OffSessionChargeRequest,
  type PaymentProvider,
  type PlanChangeOutcome,
  RefundRefusedError,
  type SetupIntentState,
  type StartedSubscription,
  type StartSubscriptionRequest,
} from "../types";
import { changeSandboxPlan } from "./change-sandbox-plan";
import { deliverPendingEventsOf, deliverPendingEventsOfSubscription } from "./deliver-sandbox-events";
import { expireIncompleteSandboxSubscription } from "./expire-sandbox-subscription";
import {
  sandboxCustomerId,
  sandboxPriceById,
  setSandboxCancelAtPeriodEnd,
  startSandboxSubscription,
} from "./sandbox-billing";
import {
  enqueueSandboxEvent,
  sandboxChargeId,
  sandboxId,
  toStripeCharge,
  toStripePaymentIntent,
} from "./sandbox-events";
import { runSandboxIdempotent } from "./sandbox-idempotency";
import {
  chargeSandboxOffSession,
  createSandboxSetupIntent,
  retrieveSandboxSetupIntent,
} from "./sandbox-setup-intents";
import { toStripeInvoice, toStripeSubscription } from "./sandbox-subscription-events";

/**
 * PaymentIntents kept in the app's own database, shaped and behaving like Stripe's test mode, including
 * its idempotency keys: every call that takes one (create, refund; confirm through its route) answers a
 * repeat with the first answer, refuses the key with other parameters, and serializes concurrent repeats
 * (see sandbox-idempotency.ts).
 */
export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = "sandbox" as const;

  constructor(
    private readonly db: Database,
    private readonly webhookSecret?: string,
  ) {}

  async createPaymentIntent(request: CreatePaymentIntentRequest): Promise<CreatedPaymentIntent> {
    return runSandboxIdempotent(
      this.db,
      {
        idempotencyKey: request.idempotencyKey,
        operation: "POST /v1/payment_intents",
        params: {
          amount: request.amount,
          currency: request.currency,
          description: request.description,
          metadata: request.metadata,
        },
      },
      async (tx) => {
        const id = sandboxId("pi");
        const [intent] = await tx
          .insert(sandboxPaymentIntent)
          .values({
            id,
            clientSecret: `${id}_secret_${randomBytes(12).toString("hex")}`,
            amount: request.amount,
            currency: request.currency,
            status: "requires_payment_method",
            metadata: request.metadata,
            idempotencyKey: request.idempotencyKey,
          })
          .returning();
        if (!intent) throw new Error("sandbox PaymentIntent was not stored");
        return { id: intent.id, clientSecret: intent.clientSecret };
      },
    );
  }

  /** A sandbox SetupIntent, confirmed with a test card through POST /api/sandbox/setup-intents/{id}/confirm. */
  async createSetupIntent(request: {
    customerId: string;
    userId: string;
    idempotencyKey: string;
  }): Promise<CreatedPaymentIntent> {
    return createSandboxSetupIntent(this.db, request);
  }

  async retrieveSetupIntent(setupIntentId: string): Promise<SetupIntentState | undefined> {
    return retrieveSandboxSetupIntent(this.db, setupIntentId);
  }

  /** Stripe's off-session charge in test mode, offline (chargeSandboxOffSession); its event is delivered before it answers. */
  async chargeOffSession(request: OffSessionChargeRequest): Promise<OffSessionCharge> {
    return chargeSandboxOffSession(this.db, this.webhookSecret ?? webhookSigningSecret(), request);
  }

  async *listSucceededPaymentIntents(since: Date): AsyncIterable<Stripe.PaymentIntent> {
    const rows = await this.db
      .select()
      .from(sandboxPaymentIntent)
      .where(and(eq(sandboxPaymentIntent.status, "succeeded"), gte(sandboxPaymentIntent.createdAt, since)));
    for (const row of rows) yield toStripePaymentIntent(row);
  }

  async retrievePaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent | undefined> {
    const [row] = await this.db
      .select()
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.id, paymentIntentId));
    return row ? toStripePaymentIntent(row) : undefined;
  }

  /**
   * Cancels like Stripe: only a PaymentIntent in a cancelable state; any other is answered as it is (the
   * Stripe provider does the same with Stripe's refusal). The new state and its payment_intent.canceled
   * event are written together, then the event is delivered.
   */
  async cancelPaymentIntent(paymentIntentId: string): Promise<Stripe.PaymentIntent> {
    const intent = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, paymentIntentId))
        .for("update");
      if (!row) throw new NotFoundError("PaymentIntent");
      if (!CANCELABLE_PAYMENT_INTENT_STATUSES.has(row.status)) return toStripePaymentIntent(row);
      const [updated] = await tx
        .update(sandboxPaymentIntent)
        .set({ status: "canceled", updatedAt: sql`now()` })
        .where(eq(sandboxPaymentIntent.id, row.id))
        .returning();
      if (!updated) throw new NotFoundError("PaymentIntent");
      const canceled = toStripePaymentIntent(updated);
      await enqueueSandboxEvent(tx, "payment_intent.canceled", canceled, updated.id);
      return canceled;
    });
    await deliverPendingEventsOf(this.db, this.webhookSecret ?? webhookSigningSecret(), paymentIntentId);
    return intent;
  }

  /**
   * Refunds like Stripe: all that is left by default, never more than was paid. The refund and its
   * charge.refunded event are written together (the event to the outbox), then the event is delivered.
   */
  async refundPayment(request: { paymentIntentId: string; amount?: number; idempotencyKey: string }) {
    const refund = await runSandboxIdempotent(
      this.db,
      {
        idempotencyKey: request.idempotencyKey,
        operation: "POST /v1/refunds",
        params: { payment_intent: request.paymentIntentId, amount: request.amount },
      },
      async (tx) => {
        const [row] = await tx
          .select()
          .from(sandboxPaymentIntent)
          .where(eq(sandboxPaymentIntent.id, request.paymentIntentId))
          .for("update");
        if (!row) throw new NotFoundError("PaymentIntent");
        if (row.status !== "succeeded")
          throw new RefundRefusedError("Only a succeeded payment can be refunded.");
        const refundable = row.amount - row.amountRefunded;
        const amount = request.amount ?? refundable;
        if (amount <= 0 || amount > refundable) {
          throw new RefundRefusedError(`At most ${refundable} can still be refunded.`);
        }
        const [updated] = await tx
          .update(sandboxPaymentIntent)
          .set({ amountRefunded: row.amountRefunded + amount })
          .where(eq(sandboxPaymentIntent.id, row.id))
          .returning();
        if (!updated) throw new NotFoundError("PaymentIntent");
        // refund.created names the refund, as Stripe's does: the app's reservation of it (refund_request)
        // stops counting once an event names it, whatever second the charge figure carries.
        const refundId = sandboxId("re");
        const refund = {
          id: refundId,
          object: "refund",
          amount,
          currency: updated.currency,
          payment_intent: updated.id,
          charge: sandboxChargeId(updated.id),
          status: "succeeded",
          created: Math.floor(Date.now() / 1000),
          metadata: {},
        } as unknown as Stripe.Refund;
        await enqueueSandboxEvent(tx, "refund.created", refund, updated.id);
        await enqueueSandboxEvent(tx, "charge.refunded", toStripeCharge(updated), updated.id);
        return { refundId };
      },
    );
    await deliverPendingEventsOf(
      this.db,
      this.webhookSecret ?? webhookSigningSecret(),
      request.paymentIntentId,
    );
    return refund;
  }

  /** The user's sandbox customer: derived from the user's id, so there is one however often it is asked. */
  async ensureCustomer(user: { id: string; email: string }): Promise<string> {
    return sandboxCustomerId(user.id);
  }

  /**
   * Starts an `incomplete` subscription whose first invoice is paid by confirming the returned
   * PaymentIntent (see startSandboxSubscription), then delivers its `customer.subscription.created`. With
   * `trialDays` that invoice is the trial's $0 one: confirming it collects the card and starts the trial.
   */
  async startSubscription(request: StartSubscriptionRequest): Promise<StartedSubscription> {
    const started = await startSandboxSubscription(this.db, request);
    await deliverPendingEventsOfSubscription(
      this.db,
      this.webhookSecret ?? webhookSigningSecret(),
      started.providerSubscriptionId,
    );
    return started;
  }

  /** Ends an unpaid `incomplete` subscription (expire-sandbox-subscription.ts), then delivers its events. */
  async expireIncompleteSubscription(providerSubscriptionId: string): Promise<void> {
    if (await expireIncompleteSandboxSubscription(this.db, providerSubscriptionId))
      await deliverPendingEventsOfSubscription(
        this.db,
        this.webhookSecret ?? webhookSigningSecret(),
        providerSubscriptionId,
      );
  }

  /** The sandbox subscription as its own tables hold it now, in Stripe's shape. */
  async retrieveSubscription(
    providerSubscriptionId: string,
    within?: DatabaseOrTransaction,
  ): Promise<Stripe.Subscription | undefined> {
    const db = within ?? this.db;
    const [row] = await db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, providerSubscriptionId));
    return row ? toStripeSubscription(row, await sandboxPriceById(db, row.priceId)) : undefined;
  }

  /**
   * Changes the plan now (an upgrade: its proration invoice charged to the card on file) or at the
   * period's end (a downgrade), see changeSandboxPlan; then delivers the change's events, so an upgrade's
   * extra credits are granted when this returns.
   */
  async changeSubscriptionPlan(providerSubscriptionId: string, plan: Plan): Promise<PlanChangeOutcome> {
    const outcome = await changeSandboxPlan(this.db, providerSubscriptionId, plan);
    await deliverPendingEventsOfSubscription(
      this.db,
      this.webhookSecret ?? webhookSigningSecret(),
      providerSubscriptionId,
    );
    return outcome;
  }

  /** Sets or clears the cancellation at the period's end, then delivers its `customer.subscription.updated`. */
  async setCancelAtPeriodEnd(providerSubscriptionId: string, cancel: boolean): Promise<void> {
    const id = await setSandboxCancelAtPeriodEnd(this.db, providerSubscriptionId, cancel);
    await deliverPendingEventsOfSubscription(this.db, this.webhookSecret ?? webhookSigningSecret(), id);
  }

  /** The sandbox pays in the app, never at a hosted checkout: there is none to expire. */
  async expireCheckout(): Promise<"expired"> {
    return "expired";
  }

  /** The sandbox has no hosted portal: the credits page's own dialog changes the card, the plan and cancels. */
  async createBillingPortalSession(): Promise<{ url: string }> {
    throw new BillingPortalUnavailableError(this.name);
  }

  /**
   * The sandbox's invoice events list their payments (sandbox-subscription-events.ts), so nothing needs to
   * be asked: the PaymentIntent of the invoice's paid payment, read from its own tables.
   */
  async retrieveInvoicePaymentIntent(
    invoiceId: string,
    within?: DatabaseOrTransaction,
  ): Promise<string | undefined> {
    const [row] = await (within ?? this.db)
      .select({ paymentIntentId: sandboxInvoice.paymentIntentId })
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.id, invoiceId));
    return row?.paymentIntentId ?? undefined;
  }

  /** The sandbox's invoice as its own tables hold it now, in Stripe's shape with its payments. */
  async retrieveInvoice(invoiceId: string): Promise<Stripe.Invoice | undefined> {
    const [row] = await this.db
      .select({ invoice: sandboxInvoice, subscription: sandboxSubscription })
      .from(sandboxInvoice)
      .innerJoin(sandboxSubscription, eq(sandboxSubscription.id, sandboxInvoice.subscriptionId))
      .where(eq(sandboxInvoice.id, invoiceId));
    return row ? toStripeInvoice(row.invoice, row.subscription, { withPayments: true }) : undefined;
  }

  /** The sandbox's invoice paid by a PaymentIntent, read from its own tables (see the interface). */
  async retrieveInvoiceOfPayment(
    paymentIntentId: string,
    within?: DatabaseOrTransaction,
  ): Promise<InvoiceOfPayment | undefined> {
    const [row] = await (within ?? this.db)
      .select({
        invoiceId: sandboxInvoice.id,
        providerSubscriptionId: sandboxInvoice.subscriptionId,
        ourSubscriptionId: sandboxSubscription.subscriptionRowId,
        customerId: sandboxInvoice.customerId,
        amountPaid: sandboxInvoice.amountPaid,
        currency: sandboxInvoice.currency,
      })
      .from(sandboxInvoice)
      .leftJoin(sandboxSubscription, eq(sandboxSubscription.id, sandboxInvoice.subscriptionId))
      .where(eq(sandboxInvoice.paymentIntentId, paymentIntentId));
    return row;
  }
}

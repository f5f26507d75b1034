import { createHash } from "node:crypto";
import type Stripe from "stripe";
import { findPlan, intervalMonths, type Plan } from "@/catalog/plans";
import { addMonthsClamped } from "@/credits/credit-periods";
import type { sandboxInvoice, sandboxSubscription } from "@/db/schema";
import { planLookupKey } from "../subscriptions/plan-prices";

export type SandboxSubscriptionRow = typeof sandboxSubscription.$inferSelect;
export type SandboxInvoiceRow = typeof sandboxInvoice.$inferSelect;

/** The sandbox's price as a Stripe Price shows it (what plan_price holds for it). */
export type SandboxPrice = {
  priceId: string;
  planId: string;
  amount: number;
  currency: string;
  interval: string;
};

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const suffix = (id: string) => id.replace(/^[a-z]+_sbx_/, "");

/**
 * The trial a sandbox subscription began with, or null. A trial anchors the billing cycle on its end
 * (startSandboxSubscription), days after the subscription was made; without one the anchor is the moment
 * it was made. So the trial is [created, anchor) whenever the anchor lies after the creation.
 */
export function sandboxTrialOf(
  row: Pick<SandboxSubscriptionRow, "createdAt" | "billingCycleAnchor">,
): { start: Date; end: Date } | null {
  return row.billingCycleAnchor.getTime() > row.createdAt.getTime()
    ? { start: row.createdAt, end: row.billingCycleAnchor }
    : null;
}

/** The one item of a sandbox subscription (plans have one price each). */
export function sandboxSubscriptionItemId(subscriptionId: string): string {
  return `si_sbx_${suffix(subscriptionId)}`;
}

/** The sandbox's price id of a plan: derived from its lookup key, so every caller names the same price. */
export function sandboxPriceIdOf(plan: Plan): string {
  return `price_sbx_${createHash("sha256").update(planLookupKey(plan)).digest("hex").slice(0, 24)}`;
}

/**
 * The subscription schedule of a sandbox subscription with a plan change waiting for its period's end (a
 * downgrade), as Stripe models one: the current phase on the current price until the period ends, then a
 * phase on the new price, after which the schedule releases the subscription. Sent expanded (what a
 * handler would otherwise fetch with `expand: ['schedule']`), so `customer.subscription.updated` says which
 * plan comes next. Null when no change waits.
 */
function scheduleOf(row: SandboxSubscriptionRow, price: SandboxPrice): Stripe.SubscriptionSchedule | null {
  const next = row.pendingPlanId ? findPlan(row.pendingPlanId) : undefined;
  if (!next?.price) return null;
  const nextEnd = addMonthsClamped(
    row.currentPeriodEnd,
    intervalMonths(next),
    row.billingCycleAnchor.getUTCDate(),
  );
  return {
    id: `sub_sched_sbx_${suffix(row.id)}`,
    object: "subscription_schedule",
    customer: row.customerId,
    end_behavior: "release",
    status: "active",
    subscription: row.id,
    current_phase: { start_date: seconds(row.currentPeriodStart), end_date: seconds(row.currentPeriodEnd) },
    phases: [
      {
        start_date: seconds(row.currentPeriodStart),
        end_date: seconds(row.currentPeriodEnd),
        items: [{ price: price.priceId, quantity: 1, metadata: {} }],
        proration_behavior: "none",
      },
      {
        start_date: seconds(row.currentPeriodEnd),
        end_date: seconds(nextEnd),
        items: [{ price: sandboxPriceIdOf(next), quantity: 1, metadata: {} }],
        proration_behavior: "none",
      },
    ],
    livemode: false,
    metadata: {},
  } as unknown as Stripe.SubscriptionSchedule;
}

export function sandboxProductId(planId: string): string {
  return `prod_sbx_${planId}`;
}

function stripePrice(price: SandboxPrice): Stripe.Price {
  return {
    id: price.priceId,
    object: "price",
    active: true,
    billing_scheme: "per_unit",
    currency: price.currency,
    livemode: false,
    lookup_key: `creditkit:${price.planId}:${price.amount}:${price.currency}`,
    metadata: { planId: price.planId },
    product: sandboxProductId(price.planId),
    recurring: { interval: price.interval, interval_count: 1, meter: null, usage_type: "licensed" },
    type: "recurring",
    unit_amount: price.amount,
    unit_amount_decimal: String(price.amount),
  } as unknown as Stripe.Price;
}

/**
 * A sandbox subscription in the shape of API version STRIPE_API_VERSION: the billing period is on the
 * item (`items.data[0].current_period_start/end`), not on the subscription.
 */
export function toStripeSubscription(row: SandboxSubscriptionRow, price: SandboxPrice): Stripe.Subscription {
  const trial = sandboxTrialOf(row);
  return {
    id: row.id,
    object: "subscription",
    billing_cycle_anchor: seconds(row.billingCycleAnchor),
    billing_mode: { type: "flexible" },
    cancel_at: row.cancelAtPeriodEnd ? seconds(row.currentPeriodEnd) : null,
    cancel_at_period_end: row.cancelAtPeriodEnd,
    canceled_at: row.canceledAt ? seconds(row.canceledAt) : null,
    collection_method: "charge_automatically",
    created: seconds(row.createdAt),
    currency: price.currency,
    customer: row.customerId,
    ended_at: row.endedAt ? seconds(row.endedAt) : null,
    items: {
      object: "list",
      data: [
        {
          id: sandboxSubscriptionItemId(row.id),
          object: "subscription_item",
          created: seconds(row.createdAt),
          current_period_start: seconds(row.currentPeriodStart),
          current_period_end: seconds(row.currentPeriodEnd),
          metadata: {},
          price: stripePrice(price),
          quantity: 1,
          subscription: row.id,
        },
      ],
      has_more: false,
      url: `/v1/subscription_items?subscription=${row.id}`,
    },
    latest_invoice: row.latestInvoiceId,
    livemode: false,
    metadata: row.metadata,
    pending_update: null,
    schedule: scheduleOf(row, price),
    start_date: seconds(trial?.start ?? row.billingCycleAnchor),
    status: row.status,
    test_clock: null,
    trial_end: trial ? seconds(trial.end) : null,
    trial_start: trial ? seconds(trial.start) : null,
  } as unknown as Stripe.Subscription;
}

/**
 * A sandbox invoice in the shape of API version STRIPE_API_VERSION: the subscription is named under
 * `parent.subscription_details` (with the subscription's metadata as it was when the invoice was made),
 * each line carries its period, price and proration flag. `payments` is Stripe's includable list, given
 * when asked (`expand: ['payments']`), as the sandbox's `invoice.paid` does so the handler need not ask.
 */
export function toStripeInvoice(
  invoice: SandboxInvoiceRow,
  subscription: Pick<SandboxSubscriptionRow, "id" | "metadata">,
  options: { withPayments?: boolean } = {},
): Stripe.Invoice {
  const paid = invoice.status === "paid";
  return {
    id: invoice.id,
    object: "invoice",
    amount_due: invoice.amountDue,
    amount_paid: invoice.amountPaid,
    amount_remaining: invoice.amountDue - invoice.amountPaid,
    attempt_count: invoice.attemptCount,
    attempted: invoice.attemptCount > 0,
    billing_reason: invoice.billingReason,
    collection_method: "charge_automatically",
    created: invoice.created,
    currency: invoice.currency,
    customer: invoice.customerId,
    hosted_invoice_url: null,
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    parent: {
      type: "subscription_details",
      quote_details: null,
      subscription_details: { metadata: subscription.metadata, subscription: subscription.id },
    },
    lines: {
      object: "list",
      data: invoice.lines.map((line) => ({
        id: line.id,
        object: "line_item",
        amount: line.amount,
        currency: line.currency,
        description: line.description,
        invoice: invoice.id,
        livemode: false,
        metadata: {},
        parent: {
          type: "subscription_item_details",
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: line.proration,
            proration_details: { credited_items: null },
            subscription: subscription.id,
            subscription_item: sandboxSubscriptionItemId(subscription.id),
          },
        },
        period: line.period,
        pricing: {
          type: "price_details",
          price_details: { price: line.priceId, product: sandboxProductId(line.planId) },
          unit_amount_decimal: String(line.amount),
        },
        quantity: 1,
      })),
      has_more: false,
      url: `/v1/invoices/${invoice.id}/lines`,
    },
    ...(options.withPayments && invoice.paymentIntentId
      ? {
          payments: {
            object: "list",
            data: [
              {
                id: `inpay_sbx_${suffix(invoice.id)}`,
                object: "invoice_payment",
                amount_paid: paid ? invoice.amountPaid : null,
                amount_requested: invoice.amountDue,
                created: invoice.created,
                currency: invoice.currency,
                invoice: invoice.id,
                is_default: true,
                livemode: false,
                payment: { type: "payment_intent", payment_intent: invoice.paymentIntentId },
                status: paid ? "paid" : "open",
                status_transitions: {
                  canceled_at: null,
                  paid_at: paid && invoice.paidAt ? seconds(invoice.paidAt) : null,
                },
              },
            ],
            has_more: false,
            url: "/v1/invoice_payments",
          },
        }
      : {}),
    status: invoice.status,
    status_transitions: {
      finalized_at: invoice.finalizedAt ? seconds(invoice.finalizedAt) : null,
      marked_uncollectible_at: null,
      paid_at: paid && invoice.paidAt ? seconds(invoice.paidAt) : null,
      voided_at: null,
    },
    subtotal: invoice.amountDue,
    total: invoice.amountDue,
  } as unknown as Stripe.Invoice;
}

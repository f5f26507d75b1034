import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Stripe from "stripe";
import { STRIPE_API_VERSION } from "../../src/payment/stripe/api-version";

/** The real SDK, used only to sign payloads the way Stripe does. It never makes a request. */
const signer = new Stripe("sk_test_x");

export function testId(prefix: string): string {
  return `${prefix}_test_${randomBytes(10).toString("hex")}`;
}

export type PaymentIntentFields = {
  id: string;
  amount: number;
  currency: string;
  metadata: Record<string, string>;
  amount_received?: number;
  status?: string;
  last_payment_error?: { type: string; code?: string; decline_code?: string; message?: string } | null;
  cancellation_reason?: string | null;
};

/** A PaymentIntent object shaped like the ones Stripe puts in `data.object`. */
export function paymentIntentObject(fields: PaymentIntentFields): Record<string, unknown> {
  const status = fields.status ?? "succeeded";
  return {
    object: "payment_intent",
    livemode: false,
    created: Math.floor(Date.now() / 1000),
    latest_charge: status === "succeeded" ? testId("ch") : null,
    last_payment_error: null,
    cancellation_reason: null,
    amount_received: status === "succeeded" ? fields.amount : 0,
    status,
    ...fields,
  };
}

/**
 * A complete Stripe event as raw JSON: what arrives as the webhook's body. `created` in seconds (default
 * now); `apiVersion` defaults to the pinned version (the endpoint's, as the README says to create it).
 */
export function stripeEventPayload(
  type: string,
  object: Record<string, unknown>,
  eventId = testId("evt"),
  created = Math.floor(Date.now() / 1000),
  apiVersion: string = STRIPE_API_VERSION,
): string {
  return JSON.stringify({
    id: eventId,
    object: "event",
    api_version: apiVersion,
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  });
}

/** A Stripe-Signature header for the payload, signed with the SDK; `timestamp` in seconds (default now). */
export function signPayload(payload: string, secret: string, timestamp?: number): string {
  return signer.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp ? { timestamp } : {}) });
}

/**
 * Stripe's own example objects (stripe/openapi `openapi/fixtures3.json`, see stripe-objects.json), so
 * handlers see every field and null Stripe sends; tests overlay only ids, amounts, status and links.
 */
const stripeObjects = JSON.parse(
  readFileSync(fileURLToPath(new URL("./stripe-objects.json", import.meta.url)), "utf8"),
) as Record<
  "charge" | "dispute" | "refund" | "invoice" | "line_item" | "subscription",
  Record<string, unknown>
>;

function overlay(base: Record<string, unknown>, fields: Record<string, unknown>): Record<string, unknown> {
  return { ...structuredClone(base), ...fields };
}

/** A Charge as `charge.refunded` carries it: `amount_refunded` is the charge's cumulative refunded amount. */
export function chargeObject(fields: {
  id: string;
  amount: number;
  currency: string;
  payment_intent: string;
  amount_refunded: number;
}): Record<string, unknown> {
  return overlay(stripeObjects.charge, {
    amount_captured: fields.amount,
    captured: true,
    refunded: fields.amount_refunded >= fields.amount,
    ...fields,
  });
}

/** A Refund (`charge.refund.updated`, `refund.*`): status pending, requires_action, succeeded, failed or canceled. */
export function refundObject(fields: {
  id: string;
  amount: number;
  currency: string;
  charge: string;
  payment_intent: string;
  status: string;
  /** When the refund was made, in seconds (default: the fixture's). */
  created?: number;
}): Record<string, unknown> {
  const failed = fields.status === "failed";
  return overlay(stripeObjects.refund, {
    ...(failed
      ? { failure_reason: "expired_or_canceled_card", failure_balance_transaction: testId("txn") }
      : {}),
    ...fields,
  });
}

/** A Dispute; `status` as Stripe reports it (warning_needs_response, needs_response, won, lost, ...). */
export function disputeObject(fields: {
  id: string;
  amount: number;
  currency: string;
  charge: string;
  payment_intent: string;
  status: string;
}): Record<string, unknown> {
  const inquiry = fields.status.startsWith("warning_");
  const base = stripeObjects.dispute;
  return overlay(base, {
    payment_method_details: {
      type: "card",
      card: {
        ...((base.payment_method_details as { card: Record<string, unknown> }).card ?? {}),
        case_type: inquiry ? "inquiry" : "chargeback",
      },
    },
    ...fields,
  });
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/**
 * A subscription invoice line of API version STRIPE_API_VERSION: its period, its price under
 * `pricing.price_details`, and the subscription item it bills (`proration` false for a period's charge).
 */
export function invoiceLineObject(fields: {
  invoice: string;
  subscription: string;
  price: string;
  amount: number;
  currency?: string;
  period: { start: Date; end: Date };
  proration?: boolean;
  /** A proration credit's debit: the invoice (and its lines) whose time it credits back. */
  creditedItems?: { invoice: string; invoiceLineItems: string[] } | null;
}): Record<string, unknown> {
  return overlay(stripeObjects.line_item, {
    id: testId("il"),
    invoice: fields.invoice,
    amount: fields.amount,
    currency: fields.currency ?? "usd",
    subtotal: fields.amount,
    period: { start: seconds(fields.period.start), end: seconds(fields.period.end) },
    parent: {
      type: "subscription_item_details",
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: fields.proration ?? false,
        proration_details: {
          credited_items: fields.creditedItems
            ? {
                invoice: fields.creditedItems.invoice,
                invoice_line_items: fields.creditedItems.invoiceLineItems,
              }
            : null,
        },
        subscription: fields.subscription,
        subscription_item: testId("si"),
      },
    },
    pricing: {
      type: "price_details",
      price_details: { price: fields.price, product: testId("prod") },
      unit_amount_decimal: String(fields.amount),
    },
  });
}

/**
 * A subscription's invoice as `invoice.*` events carry it in API version STRIPE_API_VERSION: the
 * subscription under `parent.subscription_details` (with its metadata), no top-level `subscription`.
 */
export function invoiceObject(fields: {
  id: string;
  customer: string;
  subscription: string;
  subscriptionMetadata?: Record<string, string> | null;
  status?: string;
  amountPaid: number;
  currency?: string;
  billingReason?: string;
  lines: Record<string, unknown>[];
}): Record<string, unknown> {
  const status = fields.status ?? "paid";
  return overlay(stripeObjects.invoice, {
    id: fields.id,
    customer: fields.customer,
    status,
    currency: fields.currency ?? "usd",
    amount_due: fields.amountPaid,
    amount_paid: status === "paid" ? fields.amountPaid : 0,
    amount_remaining: status === "paid" ? 0 : fields.amountPaid,
    subtotal: fields.amountPaid,
    total: fields.amountPaid,
    billing_reason: fields.billingReason ?? "subscription_cycle",
    subscription: undefined,
    parent: {
      type: "subscription_details",
      quote_details: null,
      subscription_details: {
        metadata: fields.subscriptionMetadata ?? null,
        subscription: fields.subscription,
      },
    },
    lines: {
      object: "list",
      data: fields.lines,
      has_more: false,
      url: `/v1/invoices/${fields.id}/lines`,
    },
  });
}

/** A Subscription of API version STRIPE_API_VERSION: its billing period lives on its one item. */
export function subscriptionObject(fields: {
  id: string;
  customer: string;
  status: string;
  price: string;
  period: { start: Date; end: Date };
  metadata?: Record<string, string>;
}): Record<string, unknown> {
  const base = stripeObjects.subscription;
  const [item] = (base.items as { data: Record<string, unknown>[] }).data;
  return overlay(base, {
    id: fields.id,
    customer: fields.customer,
    status: fields.status,
    metadata: fields.metadata ?? {},
    billing_cycle_anchor: seconds(fields.period.start),
    start_date: seconds(fields.period.start),
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    ended_at: null,
    trial_end: null,
    trial_start: null,
    pending_update: null,
    latest_invoice: null,
    items: {
      object: "list",
      data: [
        {
          ...structuredClone(item),
          id: testId("si"),
          subscription: fields.id,
          price: { ...structuredClone((item as { price: Record<string, unknown> }).price), id: fields.price },
          current_period_start: seconds(fields.period.start),
          current_period_end: seconds(fields.period.end),
        },
      ],
      has_more: false,
      url: `/v1/subscription_items?subscription=${fields.id}`,
    },
  });
}

/** What the webhook route answered a delivered event: its status and the handler's outcome. */
export type Delivery = { status: number; outcome?: string };

/**
 * Sends an event to the app's webhook route as Stripe would: the payload built by stripeEventPayload
 * (`created` in seconds, `eventId` fixed to replay one event), signed with `secret` by the SDK.
 */
export async function deliverStripeEvent(
  send: (request: Request) => Promise<Response>,
  secret: string,
  type: string,
  object: Record<string, unknown>,
  { created, eventId = testId("evt") }: { created?: number; eventId?: string } = {},
): Promise<Delivery> {
  const payload = stripeEventPayload(type, object, eventId, created);
  const response = await send(
    new Request("http://localhost:3000/api/webhooks/stripe", {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": signPayload(payload, secret) },
      body: payload,
    }),
  );
  const body = (await response.json()) as { outcome?: string };
  return { status: response.status, outcome: body.outcome };
}

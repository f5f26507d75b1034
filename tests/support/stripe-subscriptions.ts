import { expect } from "vitest";
import { findPlan } from "../../src/catalog/plans";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { planPrice, subscription } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { planLookupKey } from "../../src/payment/subscriptions/plan-prices";
import { APP_ORIGIN, appRequest, readJson, type SignedUpUser, signUp } from "./app-requests";
import type { FakeStripe } from "./fake-stripe";
import type { BillingStep } from "./fake-stripe-billing";
import { subscriptionsPost, webhookPost } from "./route-handlers";
import { seedUser } from "./seed";
import { chargeObject, signPayload, testId } from "./stripe-events";

/** The webhook route's answer to a delivered payload: its status and its JSON body. */
export type SignedDelivery = { status: number; body: { outcome?: string; error?: { code: string } } };

/**
 * Posts a payload built by stripeEventPayload to the app's webhook route, signed by the SDK with the
 * configured webhook secret, as Stripe delivers it. Replaying the same payload replays the same event.
 */
export async function deliverSignedPayload(payload: string): Promise<SignedDelivery> {
  const response = await webhookPost(
    new Request(`${APP_ORIGIN}/api/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": signPayload(payload, webhookSigningSecret()),
      },
      body: payload,
    }),
  );
  return { status: response.status, body: (await response.json()) as SignedDelivery["body"] };
}

/**
 * Records Stripe prices for catalog plans, as the app records a price it made (amount, currency,
 * interval and lookup key from the catalog), so invoice lines naming `priceId` map to `planId`.
 */
export async function insertStripePlanPrices(
  db: Database,
  prices: readonly { priceId: string; planId: string }[],
): Promise<void> {
  await db.insert(planPrice).values(
    prices.map(({ priceId, planId }) => {
      const plan = findPlan(planId);
      if (!plan?.price) throw new Error(`no paid plan ${planId} in the catalog`);
      return {
        priceId,
        provider: "stripe" as const,
        planId,
        amount: plan.price.amount,
        currency: plan.price.currency,
        interval: plan.interval,
        lookupKey: planLookupKey(plan),
      };
    }),
  );
}

/** A new user with an active Stripe subscription to `planId` (fresh customer and subscription ids). */
export async function seedStripeSubscription(db: Database, planId = "pro-monthly") {
  const userId = await seedUser(db);
  const customer = testId("cus");
  const providerSubscriptionId = testId("sub");
  const [row] = await db
    .insert(subscription)
    .values({
      userId,
      provider: "stripe",
      customerId: customer,
      planId,
      status: "active",
      providerSubscriptionId,
    })
    .returning();
  if (!row) throw new Error("no subscription row");
  return { userId, customer, providerSubscriptionId, row };
}

/** The PaymentIntent that paid an invoice of the Stripe stand-in, as `GET /v1/invoice_payments` lists it ("" if none). */
export function invoicePaymentIntent(fake: FakeStripe, invoiceId: string): string {
  const answer = fake.billing.handle(
    "GET",
    "/v1/invoice_payments",
    new URLSearchParams(),
    new URLSearchParams({ invoice: invoiceId }),
  );
  const body = answer?.body as { data: { payment: { payment_intent: string } }[] } | undefined;
  return body?.data[0]?.payment.payment_intent ?? "";
}

/** The charge of a stand-in invoice with `amountRefunded` (minor units) refunded, as `charge.refunded` carries it. */
export function refundedChargeOf(
  fake: FakeStripe,
  invoice: Record<string, unknown>,
  amountRefunded: number,
): Record<string, unknown> {
  return chargeObject({
    id: `ch_${invoice.id as string}`,
    amount: invoice.amount_paid as number,
    currency: "usd",
    payment_intent: invoicePaymentIntent(fake, invoice.id as string),
    amount_refunded: amountRefunded,
  });
}

/**
 * A signed-in user subscribes to `planId` as the credits page does (`POST /api/credits/subscriptions`,
 * expected 201) and pays at the stand-in's Checkout (at `at`, now by default). No event is delivered yet:
 * returns our subscription id and the stand-in's session, subscription and first invoice.
 */
export async function checkOutAtStripe(
  fake: FakeStripe,
  user: { cookie: string },
  planId = "pro-monthly",
  at?: Date,
): Promise<Required<BillingStep> & { subscriptionId: string }> {
  const started = await readJson<{ subscriptionId: string; checkoutUrl: string }>(
    await subscriptionsPost(
      appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
    ),
  );
  expect(started.status).toBe(201);
  const step = fake.billing.completeCheckout(started.body.checkoutUrl.split("/").pop() ?? "", at);
  return { ...step, subscriptionId: started.body.subscriptionId };
}

/** The billing period of a stand-in invoice's first line, as dates; throws for an invoice without lines. */
export function invoicePeriod(invoice: Record<string, unknown>): { start: Date; end: Date } {
  const line = (invoice.lines as { data: { period: { start: number; end: number } }[] }).data[0];
  if (!line) throw new Error("invoice without a line");
  return { start: new Date(line.period.start * 1000), end: new Date(line.period.end * 1000) };
}

/** Delivers a stand-in object as a signed Stripe event through the webhook route (the file's own order). */
type DeliverEvent = (type: string, object: Record<string, unknown>) => Promise<unknown>;

/**
 * A new Pro (yearly) subscriber whose year began at `yearStart`: signed up (email `<emailPrefix>-…`),
 * checked out at the stand-in, and linked by `checkout.session.completed` and
 * `customer.subscription.created` (its `invoice.paid` is not delivered).
 */
export async function yearlySubscriberAt(
  fake: FakeStripe,
  deliver: DeliverEvent,
  yearStart: Date,
  emailPrefix = "yearly",
) {
  const user: SignedUpUser = await signUp(`${testId(emailPrefix)}@example.com`);
  const step = await checkOutAtStripe(fake, user, "pro-yearly", yearStart);
  await deliver("checkout.session.completed", step.session);
  await deliver("customer.subscription.created", step.subscription);
  return { user, step, providerId: step.subscription.id as string };
}

/**
 * A yearly subscriber whose renewal `daysAgo` days ago was declined (yearlySubscriberAt a year before):
 * the subscription past due, the renewal's invoice open, `customer.subscription.updated` delivered.
 * Returns the subscriber with that invoice and its year.
 */
export async function declinedYearAt(
  fake: FakeStripe,
  deliver: DeliverEvent,
  daysAgo: number,
  emailPrefix?: string,
) {
  const renewalAt = new Date(Date.now() - daysAgo * 86_400_000);
  const sub = await yearlySubscriberAt(fake, deliver, addMonthsClamped(renewalAt, -12), emailPrefix);
  fake.billing.cardDeclines = true;
  const renewal = fake.billing.renew(sub.providerId);
  fake.billing.cardDeclines = false;
  if (!renewal.invoice) throw new Error("renewal invoiced");
  expect(renewal.invoice.status).toBe("open");
  await deliver("customer.subscription.updated", renewal.subscription);
  return { ...sub, invoice: renewal.invoice, year: invoicePeriod(renewal.invoice) };
}

import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { creditPurchase, subscription } from "../../src/db/schema";
import { abandonStalePurchases } from "../../src/payment/abandon-stale-purchases";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf, subscriptionDelete, webhookPost } from "../support/route-handlers";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import {
  chargeObject,
  deliverStripeEvent,
  disputeObject,
  paymentIntentObject,
  refundObject,
  testId,
} from "../support/stripe-events";
import { checkOutAtStripe, invoicePaymentIntent, refundedChargeOf } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// Stripe is the provider; its API is the local stand-in, and its events reach the app signed, through the
// real webhook route, in the orders a hostile network (or a webhook endpoint that was down) delivers them.
const WEBHOOK_SECRET = "whsec_test_break_subscriptions_stripe";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_break_subscriptions",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_break_subscriptions",
    STRIPE_API_BASE: fake.url,
    RATE_LIMIT_PURCHASES_PER_MINUTE: "1000",
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const subscriptionPatch = handlerOf(changeSubscription);
let clock = Math.floor(Date.now() / 1000) - 3600;
const deliver = (type: string, object: Record<string, unknown>, eventId?: string) =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, {
    created: ++clock,
    ...(eventId ? { eventId } : {}),
  });

describe.each(databaseKinds())("breaking subscriptions with Stripe, events out of order, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    fake.billing.cardDeclines = false;
    await assertLedgerInvariants(database.db);
  });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const newUser = () => signUp(`${testId("break-st")}@example.com`);
  /** The PaymentIntent that paid a fake invoice, as Stripe's invoice_payments lists it. */
  const paymentIntentOf = (invoiceId: string) => invoicePaymentIntent(fake, invoiceId);
  const refundedCharge = (invoice: Record<string, unknown>, amountRefunded: number) =>
    refundedChargeOf(fake, invoice, amountRefunded);

  const invoicePurchaseOf = async (userId: string) =>
    (
      await database.db
        .select()
        .from(creditPurchase)
        .where(and(eq(creditPurchase.userId, userId), eq(creditPurchase.kind, "subscription_invoice")))
    )[0];

  const checkedOut = (user: SignedUpUser, planId = "pro-monthly") => checkOutAtStripe(fake, user, planId);

  // A refund (charge.refunded) of a subscription invoice that arrives before that invoice's invoice.paid
  // (refused once and waiting for Stripe's retry while the merchant refunded in the Dashboard) is
  // recorded on a pending purchase of the invoice, answered 2xx (not a 5xx for Stripe to redeliver: its
  // retries stop after three days), and the invoice.paid that follows grants and takes the credits back.
  it("a full refund delivered before the invoice's invoice.paid still takes the period's credits back", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    const early = await deliver("charge.refunded", refundedCharge(step.invoice, 1900));
    expect(early).toEqual({ status: 200, outcome: "awaiting_grant" });
    const paid = await deliver("invoice.paid", step.invoice);
    expect(paid.outcome).toContain("granted");
    expect(await balanceOf(user.id)).toBe(0);
    expect(await invoicePurchaseOf(user.id)).toMatchObject({
      status: "succeeded",
      invoiceId: step.invoice.id,
      amountRefunded: 1900,
      credits: 1000,
      clawedBackCredits: 1000,
    });
    // invoice.paid again (Stripe's retry of the refused delivery, a new event id): nothing more.
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
  });

  it("the pending purchase an early refund recorded outlives the maintenance job's day: invoice.paid days later still settles it", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("charge.refunded", refundedCharge(step.invoice, 1900));
    // Two days pass (Stripe retries invoice.paid for three): the maintenance job gives up stale pay
    // dialogs, and must not take the invoice's pending purchase for one.
    await database.db.execute(
      sql`UPDATE credit_purchase SET created_at = now() - interval '2 days' WHERE user_id = ${user.id}`,
    );
    await abandonStalePurchases(database.db, getPaymentProvider(database.db));
    expect((await invoicePurchaseOf(user.id))?.status).toBe("pending");
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await invoicePurchaseOf(user.id)).toMatchObject({ status: "succeeded", clawedBackCredits: 1000 });
  });

  it("an early refund, then a late payment_intent.payment_failed of an earlier attempt: invoice.paid still settles the refund", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("charge.refunded", refundedCharge(step.invoice, 1900));
    // The invoice's first attempt was declined; its event arrives now, after the refund of the second.
    const failed = await deliver(
      "payment_intent.payment_failed",
      paymentIntentObject({
        id: paymentIntentOf(step.invoice.id as string),
        amount: 1900,
        currency: "usd",
        status: "requires_payment_method",
        metadata: {},
      }),
    );
    expect(failed.status).toBe(200);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await invoicePurchaseOf(user.id)).toMatchObject({ status: "succeeded", clawedBackCredits: 1000 });
  });

  it("a partial refund reported by refund.created before invoice.paid takes back its share once the invoice is paid", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    const refund = refundObject({
      id: testId("re"),
      amount: 950,
      currency: "usd",
      charge: `ch_${step.invoice.id as string}`,
      payment_intent: paymentIntentOf(step.invoice.id as string),
      status: "succeeded",
    });
    // Delivered together: the refund's events race each other onto the one pending purchase.
    const early = await Promise.all([deliver("refund.created", refund), deliver("refund.updated", refund)]);
    expect(early.map((delivery) => delivery.status)).toEqual([200, 200]);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(500);
    expect(await invoicePurchaseOf(user.id)).toMatchObject({ amountRefunded: 950, clawedBackCredits: 500 });
  });

  it("a refund of a payment that paid no invoice of ours is still answered unknown, and records nothing", async () => {
    const user = await newUser();
    await checkedOut(user);
    const stranger = await deliver(
      "charge.refunded",
      chargeObject({
        id: testId("ch"),
        amount: 1900,
        currency: "usd",
        payment_intent: testId("pi"),
        amount_refunded: 1900,
      }),
    );
    expect(stranger).toEqual({ status: 200, outcome: "unknown_payment_intent" });
    expect(await invoicePurchaseOf(user.id)).toBeUndefined();
  });

  // The same for a dispute: a lost chargeback of a first invoice delivered before its invoice.paid.
  it("a lost dispute delivered before the invoice's invoice.paid still takes the period's credits back", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    const dispute = disputeObject({
      id: testId("dp"),
      amount: 1900,
      currency: "usd",
      charge: `ch_${step.invoice.id as string}`,
      payment_intent: paymentIntentOf(step.invoice.id as string),
      status: "lost",
    });
    expect((await deliver("charge.dispute.created", dispute)).outcome).toBe("awaiting_grant");
    await deliver("charge.dispute.closed", dispute);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await invoicePurchaseOf(user.id)).toMatchObject({ disputed: true, clawedBackCredits: 1000 });
  });

  it("an admin refunds an invoice twice before Stripe's events arrive: the second is refused, one refund is made", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("invoice.paid", step.invoice);
    const purchase = await invoicePurchaseOf(user.id);
    if (!purchase) throw new Error("the invoice is a purchase");
    const provider = getPaymentProvider(database.db);
    const actor = { userId: user.id, label: "ops@example.test" };
    const refund = (amount?: number) =>
      refundPurchase(
        database.db,
        provider,
        { purchaseId: purchase.id, reason: "customer asked", ...(amount ? { amount } : {}) },
        actor,
      );
    const before = fake.billing.refunds.length;
    await refund(1000);
    // Stripe has not reported the first refund: the purchase still shows nothing refunded.
    expect((await invoicePurchaseOf(user.id))?.amountRefunded).toBe(0);
    await expect(refund(1000)).rejects.toMatchObject({
      code: "refund_not_possible",
      context: { refundable: 900 },
    });
    await refund();
    expect(fake.billing.refunds.slice(before).map((made) => made.amount)).toEqual([1000, 900]);
    await expect(refund()).rejects.toMatchObject({ code: "refund_not_possible" });
  });

  it("a refund after the grant, then invoice.paid replayed days later under a new event id: nothing is granted again", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    expect((await deliver("invoice.paid", step.invoice)).outcome).toBe("granted");
    await deliver("charge.refunded", refundedCharge(step.invoice, 1900));
    expect(await balanceOf(user.id)).toBe(0);
    clock += 3 * 86_400;
    const replayed = await deliver("invoice.paid", step.invoice);
    expect(replayed.status).toBe(200);
    expect(await balanceOf(user.id)).toBe(0);
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    expect(purchase).toMatchObject({ amountRefunded: 1900, clawedBackCredits: 1000 });
  });

  it("each event of subscribing, renewing and upgrading delivered twice at once, all together: one grant per invoice", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    const first = [
      ["checkout.session.completed", step.session],
      ["customer.subscription.created", structuredClone(step.subscription)],
      ["invoice.paid", step.invoice],
    ] as const;
    const ids = first.map(() => testId("evt"));
    await Promise.all(
      first.flatMap(([type, object], i) => [deliver(type, object, ids[i]), deliver(type, object)]),
    );
    // Some deliveries may be refused while the link is not there yet; Stripe retries them.
    for (const [type, object] of first) await deliver(type, object);
    expect(await balanceOf(user.id)).toBe(1000);

    const up = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "max-monthly" },
        }),
      ),
    );
    expect(up.body.change.kind).toBe("changed_now");
    const providerId = step.subscription.id as string;
    const upgraded = structuredClone(fake.subscriptions.get(providerId) ?? {});
    const upgradeInvoice = fake.billing.invoices.get(up.body.change.invoiceId) ?? {};
    await Promise.all([
      deliver("invoice.paid", upgradeInvoice),
      deliver("invoice.paid", upgradeInvoice),
      deliver("customer.subscription.updated", upgraded),
      deliver("customer.subscription.updated", upgraded),
    ]);
    await deliver("invoice.paid", upgradeInvoice);
    const afterUpgrade = await balanceOf(user.id);
    expect(afterUpgrade).toBeGreaterThan(4900);
    expect(afterUpgrade).toBeLessThanOrEqual(5000);
    const row = (await database.db.select().from(subscription).where(eq(subscription.userId, user.id)))[0];
    expect(row?.planId).toBe("max-monthly");
  });

  it("cancel at Stripe, then a late customer.subscription.updated from before the cancel: the cancellation stands", async () => {
    const user = await newUser();
    const step = await checkedOut(user);
    await deliver("checkout.session.completed", step.session);
    const before = structuredClone(step.subscription);
    await deliver("customer.subscription.created", before);
    await deliver("invoice.paid", step.invoice);
    const cancelled = await subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
    );
    expect(cancelled.status).toBe(200);
    const providerId = step.subscription.id as string;
    await deliver("customer.subscription.updated", structuredClone(fake.subscriptions.get(providerId) ?? {}));
    // The pre-cancel snapshot, re-sent late with an older time.
    await deliverStripeEvent(webhookPost, WEBHOOK_SECRET, "customer.subscription.updated", before, {
      created: clock - 100,
    });
    const row = (await database.db.select().from(subscription).where(eq(subscription.userId, user.id)))[0];
    expect(row?.cancelAtPeriodEnd).toBe(true);
    const ended = fake.billing.renew(providerId);
    await deliver("customer.subscription.deleted", ended.subscription);
    // The pre-cancel snapshot again, after the end: nothing reopens.
    await deliver("customer.subscription.updated", before);
    const after = (await database.db.select().from(subscription).where(eq(subscription.userId, user.id)))[0];
    expect(after?.status).toBe("canceled");
    expect(await balanceOf(user.id)).toBe(1000);
  });
});

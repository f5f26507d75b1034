import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { creditPurchase, paymentCustomer, refundRequest, subscriptionRollover } from "../../src/db/schema";
import { abandonStalePurchases } from "../../src/payment/abandon-stale-purchases";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { issueDueSlots } from "../../src/payment/subscriptions/issue-due-slots";
import type { PaymentProvider } from "../../src/payment/types";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf, purchasesPost, webhookPost } from "../support/route-handlers";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import { deliverStripeEvent, disputeObject, refundObject, testId } from "../support/stripe-events";
import { checkOutAtStripe, invoicePaymentIntent, refundedChargeOf } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// Hostile orders of the newest subscription money paths: refunds and disputes before invoice.paid, late
// renewals and their carry, and admin refunds reserved against the refundable cap. Stripe is the local
// stand-in; events are signed and go through the real webhook route.
const WEBHOOK_SECRET = "whsec_test_break_subscriptions_late";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_break_subscriptions_late",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_break_subscriptions_late",
    STRIPE_API_BASE: fake.url,
    RATE_LIMIT_PURCHASES_PER_MINUTE: "1000",
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

let clock = Math.floor(Date.now() / 1000) - 7200;
const deliver = (type: string, object: Record<string, unknown>, created?: number) =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, { created: created ?? ++clock });

describe.each(databaseKinds())("breaking late subscription money, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    fake.setMode("ok");
    await assertLedgerInvariants(database.db);
  });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const newUser = () => signUp(`${testId("break-late")}@example.com`);
  const paymentIntentOf = (invoiceId: string) => invoicePaymentIntent(fake, invoiceId);
  const charge = (invoice: Record<string, unknown>, amountRefunded: number) =>
    refundedChargeOf(fake, invoice, amountRefunded);
  const dispute = (invoice: Record<string, unknown>, id: string, status: string) =>
    disputeObject({
      id,
      amount: invoice.amount_paid as number,
      currency: "usd",
      charge: `ch_${invoice.id as string}`,
      payment_intent: paymentIntentOf(invoice.id as string),
      status,
    });
  const purchaseOfInvoice = async (invoiceId: string) =>
    (await database.db.select().from(creditPurchase).where(eq(creditPurchase.invoiceId, invoiceId)))[0];

  async function subscribed(user: SignedUpUser, paid = true, planId = "pro-monthly", linked = true) {
    const step = await checkOutAtStripe(fake, user, planId);
    if (linked) {
      await deliver("checkout.session.completed", step.session);
      await deliver("customer.subscription.created", step.subscription);
    }
    if (paid) expect((await deliver("invoice.paid", step.invoice)).outcome).toContain("granted");
    return step;
  }

  async function paidPurchase() {
    const user = await newUser();
    const step = await subscribed(user);
    const purchase = await purchaseOfInvoice(step.invoice.id as string);
    if (!purchase) throw new Error("the invoice is a purchase");
    const provider = getPaymentProvider(database.db);
    const actor = { userId: user.id, label: "ops@example.test" };
    const refund = (amount: number | undefined, requestId?: string, using: PaymentProvider = provider) =>
      refundPurchase(
        database.db,
        using,
        {
          purchaseId: purchase.id,
          reason: "customer asked",
          ...(amount ? { amount } : {}),
          ...(requestId ? { requestId } : {}),
        },
        actor,
      );
    const before = fake.billing.refunds.length;
    const askedOfStripe = () =>
      fake.billing.refunds.slice(before).reduce((sum, made) => sum + (made.amount ?? 1900), 0);
    return { user, step, purchase, provider, refund, askedOfStripe };
  }

  // ---- admin refunds and the reservation ----

  // Rule: a provider error on a retry never un-reserves an accepted refund (only a request never accepted,
  // refused for certain, stops counting against the cap).
  it("a retry of an accepted refund request that meets a provider error keeps the first refund reserved", async () => {
    const { refund, purchase, askedOfStripe } = await paidPurchase();
    await refund(1000, "dialog-1");
    fake.setMode("error");
    await expect(refund(1000, "dialog-1")).rejects.toBeTruthy();
    fake.setMode("ok");
    await expect(refund(1500, "dialog-2")).rejects.toMatchObject({ code: "refund_not_possible" });
    expect(askedOfStripe()).toBeLessThanOrEqual(1900);
    const [row] = await database.db
      .select()
      .from(refundRequest)
      .where(eq(refundRequest.purchaseId, purchase.id));
    expect(row?.status).toBe("accepted");
  });

  // Rule: a charge figure of the same second as a reservation is not assumed to include it (counting it
  // twice can only refuse).
  it("a Dashboard refund reported in the same second as an admin refund does not free the admin refund's reservation", async () => {
    const { refund, purchase, step, askedOfStripe } = await paidPurchase();
    await refund(1000, "admin-a");
    const [reserved] = await database.db
      .select()
      .from(refundRequest)
      .where(eq(refundRequest.purchaseId, purchase.id));
    if (!reserved) throw new Error("reserved");
    // Stripe's figure from before our refund was made (the Dashboard's 300 only), stamped the same second.
    const second = Math.floor(reserved.createdAt.getTime() / 1000);
    expect((await deliver("charge.refunded", charge(step.invoice, 300), second)).status).toBe(200);
    expect((await purchaseOfInvoice(step.invoice.id as string))?.amountRefunded).toBe(300);
    // 1900 paid, 300 refunded in the Dashboard, 1000 asked here: 600 at most is left.
    await expect(refund(1600, "admin-b")).rejects.toMatchObject({ code: "refund_not_possible" });
    expect(askedOfStripe() + 300).toBeLessThanOrEqual(1900);
  });

  // Rule: an error that does not say nothing was made (a lost answer) keeps the request reserved.
  it("a refund Stripe made but whose answer was lost still counts against the cap", async () => {
    const { refund, provider, askedOfStripe } = await paidPurchase();
    const lossy = Object.create(provider) as PaymentProvider;
    lossy.refundPayment = async (request) => {
      await provider.refundPayment(request);
      throw new Error("socket hang up");
    };
    await expect(refund(1500, "lost-answer", lossy)).rejects.toBeTruthy();
    await expect(refund(1500, "second-try")).rejects.toMatchObject({ code: "refund_not_possible" });
    expect(askedOfStripe()).toBeLessThanOrEqual(1900);
  });

  // Rule: another amount under one request id is refused before the provider is asked; the first refund
  // keeps counting against the cap.
  it("the same request id twice with different amounts: the first refund still counts against the cap", async () => {
    const { refund, provider, askedOfStripe } = await paidPurchase();
    const seen = new Map<string, number | undefined>();
    const stripeLike = Object.create(provider) as PaymentProvider;
    stripeLike.refundPayment = async (request) => {
      if (seen.has(request.idempotencyKey) && seen.get(request.idempotencyKey) !== request.amount)
        throw new Error(
          "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        );
      seen.set(request.idempotencyKey, request.amount);
      return provider.refundPayment(request);
    };
    await refund(700, "same-dialog", stripeLike);
    await expect(refund(1500, "same-dialog", stripeLike)).rejects.toBeTruthy();
    await expect(refund(1500, "new-dialog", stripeLike)).rejects.toMatchObject({
      code: "refund_not_possible",
    });
    expect(askedOfStripe()).toBeLessThanOrEqual(1900);
  });

  it("concurrent admin refunds of one invoice under different request ids never pass the cap", async () => {
    const { refund, askedOfStripe } = await paidPurchase();
    const results = await Promise.allSettled([refund(800), refund(800), refund(800), refund(800)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    expect(askedOfStripe()).toBe(1600);
  });

  it("the same request id twice: one refund is made at Stripe", async () => {
    const { refund, askedOfStripe } = await paidPurchase();
    const [a, b] = await Promise.all([refund(700, "same"), refund(700, "same")]);
    expect(a.refundId).toBe(b.refundId);
    expect(askedOfStripe()).toBe(700);
  });

  // ---- refunds and disputes before invoice.paid ----

  it("partial then full refund before invoice.paid, then invoice.paid twice at once: the period is fully taken back", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    expect((await deliver("charge.refunded", charge(step.invoice, 950))).outcome).toBe("awaiting_grant");
    expect((await deliver("charge.refunded", charge(step.invoice, 1900))).outcome).toBe("awaiting_grant");
    await Promise.all([deliver("invoice.paid", step.invoice), deliver("invoice.paid", step.invoice)]);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await purchaseOfInvoice(step.invoice.id as string)).toMatchObject({
      status: "succeeded",
      amountRefunded: 1900,
      clawedBackCredits: 1000,
    });
  });

  it("a full refund and invoice.paid delivered at the same moment, several times: the period is taken back", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    const refunded = charge(step.invoice, 1900);
    await Promise.all([
      deliver("charge.refunded", refunded),
      deliver("invoice.paid", step.invoice),
      deliver("charge.refunded", refunded),
      deliver("invoice.paid", step.invoice),
    ]);
    // Any delivery refused under contention is retried by Stripe.
    await deliver("charge.refunded", refunded);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    expect(await purchaseOfInvoice(step.invoice.id as string)).toMatchObject({
      status: "succeeded",
      clawedBackCredits: 1000,
    });
  });

  it("a chargeback before invoice.paid that is won after it: the credits come back", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    const id = testId("dp");
    expect(
      (await deliver("charge.dispute.created", dispute(step.invoice, id, "needs_response"))).status,
    ).toBe(200);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    await deliver("charge.dispute.closed", dispute(step.invoice, id, "won"));
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("a refund that later fails, both before invoice.paid: the period is granted in full", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    const refundId = testId("re");
    const base = {
      id: refundId,
      amount: 1900,
      currency: "usd",
      charge: `ch_${step.invoice.id as string}`,
      payment_intent: paymentIntentOf(step.invoice.id as string),
    };
    await deliver("refund.created", refundObject({ ...base, status: "pending" }));
    await deliver("charge.refunded", charge(step.invoice, 1900));
    await deliver("refund.failed", refundObject({ ...base, status: "failed" }));
    await deliver("charge.refund.updated", refundObject({ ...base, status: "failed" }));
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("an early refund whose invoice.paid never arrives: the maintenance job and verify leave the ledger whole", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    await deliver("charge.refunded", charge(step.invoice, 1900));
    await database.db.execute(
      sql`UPDATE credit_purchase SET created_at = now() - interval '10 days' WHERE user_id = ${user.id}`,
    );
    await abandonStalePurchases(database.db, getPaymentProvider(database.db));
    const purchase = await purchaseOfInvoice(step.invoice.id as string);
    expect(purchase?.status).toBe("pending");
    await expect(
      refundPurchase(
        database.db,
        getPaymentProvider(database.db),
        { purchaseId: purchase?.id ?? "", reason: "x" },
        { userId: user.id, label: "ops" },
      ),
    ).rejects.toMatchObject({ code: "refund_not_possible" });
    expect(await balanceOf(user.id)).toBe(0);
  });

  it("a refund of another customer's invoice before either invoice.paid lands on that customer's invoice only", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const a = await subscribed(alice, false);
    const b = await subscribed(bob, false);
    await deliver("charge.refunded", charge(b.invoice, 1900));
    await Promise.all([deliver("invoice.paid", a.invoice), deliver("invoice.paid", b.invoice)]);
    await deliver("invoice.paid", a.invoice);
    await deliver("invoice.paid", b.invoice);
    expect(await balanceOf(alice.id)).toBe(1000);
    expect(await balanceOf(bob.id)).toBe(0);
    expect((await purchaseOfInvoice(a.invoice.id as string))?.amountRefunded).toBe(0);
  });

  it("early dispute, then the subscription deleted, then invoice.paid, then the dispute lost: nothing kept", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    const id = testId("dp");
    await deliver("charge.dispute.created", dispute(step.invoice, id, "needs_response"));
    await deliver("customer.subscription.deleted", {
      ...step.subscription,
      status: "canceled",
      ended_at: clock,
      canceled_at: clock,
    });
    await deliver("invoice.paid", step.invoice);
    await deliver("charge.dispute.closed", dispute(step.invoice, id, "lost"));
    expect(await balanceOf(user.id)).toBe(0);
  });

  it("a partial refund and a lost chargeback of the same money, both before invoice.paid: the period is taken back once, no debt", async () => {
    const user = await newUser();
    const step = await subscribed(user, false);
    const id = testId("dp");
    await Promise.all([
      deliver("charge.refunded", charge(step.invoice, 950)),
      deliver("charge.dispute.created", dispute(step.invoice, id, "needs_response")),
    ]);
    await deliver("charge.dispute.closed", dispute(step.invoice, id, "lost"));
    await deliver("charge.refunded", charge(step.invoice, 950));
    await deliver("charge.dispute.created", dispute(step.invoice, id, "needs_response"));
    await deliver("invoice.paid", step.invoice);
    const after = await getBalance(database.db, user.id);
    expect(after).toMatchObject({ balance: 0, debt: 0 });
  });

  it("an upgrade's invoice refunded in full before its invoice.paid: the difference granted is taken back", async () => {
    const user = await newUser();
    const step = await subscribed(user);
    const up = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await handlerOf(changeSubscription)(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "max-monthly" },
        }),
      ),
    );
    expect(up.body.change.kind).toBe("changed_now");
    const upgrade = fake.billing.invoices.get(up.body.change.invoiceId) ?? {};
    expect((await deliver("charge.refunded", charge(upgrade, upgrade.amount_paid as number))).outcome).toBe(
      "awaiting_grant",
    );
    await deliver(
      "customer.subscription.updated",
      structuredClone(fake.subscriptions.get(step.subscription.id as string) ?? {}),
    );
    expect((await deliver("invoice.paid", upgrade)).status).toBe(200);
    await deliver("invoice.paid", upgrade);
    expect(await balanceOf(user.id)).toBe(1000);
  });

  // ---- late renewals and the carry ----

  it("renewal 2 refunded before its invoice.paid, renewal 3 paid first, then 2 paid: 2 is taken back and carries once", async () => {
    const user = await newUser();
    const step = await subscribed(user);
    const providerId = step.subscription.id as string;
    const second = fake.billing.renew(providerId);
    const third = fake.billing.renew(providerId);
    if (!second.invoice || !third.invoice) throw new Error("renewals invoiced");
    await deliver("customer.subscription.updated", third.subscription);
    expect((await deliver("invoice.paid", third.invoice)).outcome).toContain("granted");
    expect((await deliver("charge.refunded", charge(second.invoice, 1900))).outcome).toBe("awaiting_grant");
    await Promise.all([deliver("invoice.paid", second.invoice), deliver("invoice.paid", second.invoice)]);
    await deliver("invoice.paid", second.invoice);
    expect(await purchaseOfInvoice(second.invoice.id as string)).toMatchObject({
      status: "succeeded",
      clawedBackCredits: 1000,
    });
    const carries = await database.db
      .select()
      .from(subscriptionRollover)
      .where(eq(subscriptionRollover.userId, user.id));
    // Into period 2 and into period 3, one row each.
    expect(carries.map((row) => row.intoStart.getTime()).sort()).toEqual(
      [...new Set(carries.map((row) => row.intoStart.getTime()))].sort(),
    );
    expect(carries.length).toBeLessThanOrEqual(2);
    // Period 1 (1000) + period 3 (1000); period 2 given and taken back; no carry granted yet (period 1 runs).
    expect(await balanceOf(user.id)).toBe(2000);
  });

  it("invoice.paid of a renewal refunded in part before it arrives, replayed under new event ids concurrently: one grant, one clawback", async () => {
    const user = await newUser();
    const step = await subscribed(user);
    const second = fake.billing.renew(step.subscription.id as string);
    if (!second.invoice) throw new Error("renewal invoiced");
    await deliver("charge.refunded", charge(second.invoice, 950));
    await Promise.all(Array.from({ length: 4 }, () => deliver("invoice.paid", second.invoice ?? {})));
    await deliver("invoice.paid", second.invoice);
    expect(await balanceOf(user.id)).toBe(1500);
    const rows = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    expect(rows).toHaveLength(2);
  });
  // ---- yearly plans ----

  it("a yearly invoice refunded in full before its invoice.paid: the first month is taken back and no later slot is granted", async () => {
    const user = await newUser();
    const step = await subscribed(user, false, "pro-yearly");
    expect(
      (await deliver("charge.refunded", charge(step.invoice, step.invoice.amount_paid as number))).outcome,
    ).toBe("awaiting_grant");
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
    const dueBy = new Date(Date.now() + 100 * 86_400_000);
    const run = await issueDueSlots(database.db, { dueBy, subscriptionId: step.subscriptionId });
    expect(run.granted).toBe(0);
    expect(await balanceOf(user.id)).toBe(0);
  });

  it("a yearly invoice refunded by half before its invoice.paid: each slot issued later loses half", async () => {
    const user = await newUser();
    const step = await subscribed(user, false, "pro-yearly");
    const half = Math.floor((step.invoice.amount_paid as number) / 2);
    await deliver("charge.refunded", charge(step.invoice, half));
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(500);
    const dueBy = new Date(Date.now() + 40 * 86_400_000);
    await issueDueSlots(database.db, { dueBy, subscriptionId: step.subscriptionId });
    await issueDueSlots(database.db, { dueBy, subscriptionId: step.subscriptionId });
    // The second slot (1000) lost its half; the first month's lot has not ended by the real clock.
    expect(await balanceOf(user.id)).toBe(1000);
  });

  it("a refund before checkout.session.completed and before invoice.paid: kept on the unlinked row and settled", async () => {
    const user = await newUser();
    const step = await subscribed(user, false, "pro-monthly", false);
    expect((await deliver("charge.refunded", charge(step.invoice, 1900))).outcome).toBe("awaiting_grant");
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("invoice.paid", step.invoice);
    expect(await balanceOf(user.id)).toBe(0);
  });

  // ---- a subscription started in Stripe's Dashboard (adopted) ----

  // Rule: a refund of a subscription started outside the app, before its events, adopts the subscription
  // (when it is plainly ours) and is kept, so the late invoice.paid settles it.
  it("a Dashboard subscription refunded before any of its events arrive: the late invoice.paid does not keep the period", async () => {
    await subscribed(await newUser()); // the app's Pro price exists
    const user = await newUser();
    const bought = await purchasesPost(
      appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId: "basic" } }),
    );
    expect(bought.status).toBe(201);
    const [customer] = await database.db
      .select()
      .from(paymentCustomer)
      .where(eq(paymentCustomer.userId, user.id));
    if (!customer) throw new Error("no customer made");
    const lookupKey = "creditkit:pro-monthly:1900:usd";
    const price =
      ([...fake.billing.prices.values()].find((p) => p.lookup_key === lookupKey)?.id as string | undefined) ??
      fake.billing.addPrice({ unitAmount: 1900, interval: "month", lookupKey });
    const outside = fake.billing.subscribeOutsideApp(customer.customerId, price);
    const before = await balanceOf(user.id);
    const early = await deliver("charge.refunded", charge(outside.invoice as Record<string, unknown>, 1900));
    expect(early.status).toBe(200);
    expect((await deliver("invoice.paid", outside.invoice as Record<string, unknown>)).outcome).toBe(
      "granted",
    );
    await deliver("customer.subscription.created", outside.subscription);
    expect(await balanceOf(user.id)).toBe(before);
  });
});

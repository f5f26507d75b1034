import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { creditPurchase, refundRequest } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import type { PaymentProvider } from "../../src/payment/types";
import { useAppDatabase } from "../support/app-database";
import { signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { chargeObject, testId } from "../support/stripe-events";
import { checkOutAtStripe } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// "Refund the rest" (no amount) asked again under the same request id (a double click, a retry after a
// timeout) is the same refund: no second reservation, no 409, no idempotency_error from the provider, which
// must be asked exactly as the first time. Another request id for "the rest" after a full refund is refused
// with 409 refund_not_possible before the provider is asked, and reserves nothing.
const stripe = setUpStripeApp("refund_request_retry");

const deliver = sequencedDelivery(stripe);

describe.each(databaseKinds())("refund requests retried without an amount, on %s", (kind) => {
  const database = useAppDatabase(kind);
  let admin: Actor;
  beforeAll(async () => {
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    await assertLedgerInvariants(database.db);
  });

  const reservationsOf = (purchaseId: string) =>
    database.db.select().from(refundRequest).where(eq(refundRequest.purchaseId, purchaseId));
  const refund = (provider: PaymentProvider, purchaseId: string, requestId: string, amount?: number) =>
    refundPurchase(
      database.db,
      provider,
      { purchaseId, reason: "customer asked", requestId, ...(amount ? { amount } : {}) },
      admin,
    );

  /** A Pro subscriber's first invoice (1900 cents, 1,000 credits), paid at the Stripe stand-in. */
  async function stripeInvoicePurchase() {
    const user = await signUp(`${testId("refund-retry")}@example.com`);
    const step = await checkOutAtStripe(stripe.fake, user);
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("invoice.paid", step.invoice);
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.invoiceId, step.invoice.id as string));
    if (!purchase?.paymentIntentId) throw new Error("the invoice is a purchase");
    return {
      user,
      purchase,
      paymentIntentId: purchase.paymentIntentId,
      invoiceId: step.invoice.id as string,
    };
  }

  it("Stripe: the same request id without an amount, before and after the refund's event, is one refund", async () => {
    const { user, purchase, paymentIntentId, invoiceId } = await stripeInvoicePurchase();
    const provider = getPaymentProvider(database.db);
    const before = stripe.fake.billing.refunds.length;
    const first = await refund(provider, purchase.id, "dialog-rest");
    // The retry (a double click, or the form sent again after a timeout) before Stripe's event arrives.
    const retried = await refund(provider, purchase.id, "dialog-rest");
    expect(retried.refundId).toBe(first.refundId);
    // Stripe was asked for "the rest" both times, with the same key and parameters: one refund made.
    const made = stripe.fake.billing.refunds.slice(before);
    expect(new Set(made.map((r) => r.id))).toEqual(new Set([first.refundId]));
    expect(made.every((r) => r.amount === null)).toBe(true);
    expect(await reservationsOf(purchase.id)).toEqual([
      expect.objectContaining({ amount: 1900, status: "accepted", sendsAmount: false }),
    ]);

    await deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_${invoiceId}`,
        amount: 1900,
        currency: "usd",
        payment_intent: paymentIntentId,
        amount_refunded: 1900,
      }),
    );
    expect(await balanceOf(database.db, user.id)).toBe(0);
    // Again after the event: still the same refund, nothing more taken or reserved.
    expect((await refund(provider, purchase.id, "dialog-rest")).refundId).toBe(first.refundId);
    expect(await reservationsOf(purchase.id)).toHaveLength(1);

    // A new request for "the rest" after the full refund: refused before Stripe is asked, nothing reserved.
    const asked = stripe.fake.billing.refunds.length;
    await expect(refund(provider, purchase.id, "dialog-second")).rejects.toMatchObject({
      code: "refund_not_possible",
    });
    expect(stripe.fake.billing.refunds.length).toBe(asked);
    expect(await reservationsOf(purchase.id)).toHaveLength(1);
    expect(await balanceOf(database.db, user.id)).toBe(0);
  });

  it("Stripe: the same request id, first without an amount, then with the amount it reserved, is the same refund", async () => {
    const { purchase } = await stripeInvoicePurchase();
    const provider = getPaymentProvider(database.db);
    const first = await refund(provider, purchase.id, "dialog-x");
    expect((await refund(provider, purchase.id, "dialog-x", 1900)).refundId).toBe(first.refundId);
    // Another amount under that id is another request: refused (409), the first keeps its reservation.
    await expect(refund(provider, purchase.id, "dialog-x", 1000)).rejects.toMatchObject({
      code: "refund_not_possible",
    });
    expect(await reservationsOf(purchase.id)).toEqual([expect.objectContaining({ status: "accepted" })]);
  });

  it("sandbox: a package refunded in full without an amount, retried under its id, then asked under another", async () => {
    const sandbox = new SandboxPaymentProvider(database.db, "whsec_sandbox_refund_retry");
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "standard" });
    await confirmSandboxPayment(database.db, {
      paymentIntentId: created.paymentIntentId,
      userId,
      cardNumber: "4242 4242 4242 4242",
      webhookSecret: "whsec_sandbox_refund_retry",
    });
    const paid = await balanceOf(database.db, userId);
    expect(paid).toBeGreaterThan(0);
    const first = await refund(sandbox, created.purchaseId, "sbx-rest");
    expect(await balanceOf(database.db, userId)).toBe(0);
    expect((await refund(sandbox, created.purchaseId, "sbx-rest")).refundId).toBe(first.refundId);
    expect(await reservationsOf(created.purchaseId)).toHaveLength(1);
    await expect(refund(sandbox, created.purchaseId, "sbx-other")).rejects.toMatchObject({
      code: "refund_not_possible",
    });
    expect(await reservationsOf(created.purchaseId)).toHaveLength(1);
    expect(await balanceOf(database.db, userId)).toBe(0);
  });
});

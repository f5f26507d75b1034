import { afterEach, describe, expect, it } from "vitest";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { refundPurchase } from "../../src/payment/refund-purchase";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf } from "../support/route-handlers";
import { balanceOf, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { testId } from "../support/stripe-events";
import { checkOutAtStripe, refundedChargeOf } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// A subscription invoice that took money but grants no credits by the rules: Pro → Max (the upgrade's
// difference granted), Max → Pro at once in Stripe's Dashboard (a credit, nothing paid), then Pro → Max
// again in the same period: paid, but Max's level was reached already, so it grants nothing. Its purchase
// records its true figure, 0 credits (never a placeholder), and a refund of it takes back nothing and does
// not fail. Stripe is the local stand-in; events are signed with the SDK and go through the real route.
const stripe = setUpStripeApp("zero_credit_invoice_purchase");

const deliver = sequencedDelivery(stripe);
const subscriptionPatch = handlerOf(changeSubscription);
type Rec = Record<string, unknown>;

describe.each(databaseKinds())("an invoice purchase that grants no credits, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    await assertLedgerInvariants(database.db);
  });

  const upgrade = async (user: SignedUpUser) => {
    const answer = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "max-monthly" },
        }),
      ),
    );
    expect(answer).toMatchObject({ status: 200, body: { change: { kind: "changed_now" } } });
    return stripe.fake.billing.invoices.get(answer.body.change.invoiceId) as Rec;
  };

  /**
   * A Pro subscriber who upgraded to Max, was moved back to Pro at once in the Dashboard, and upgrades to
   * Max again: returns the second upgrade's paid invoice, its invoice.paid not delivered yet.
   */
  async function secondUpgrade() {
    const user = await signUp(`${testId("zero-credit")}@example.com`);
    const step = await checkOutAtStripe(stripe.fake, user, "pro-monthly");
    const providerId = step.subscription.id as string;
    await deliver("checkout.session.completed", step.session);
    await deliver("customer.subscription.created", step.subscription);
    await deliver("invoice.paid", step.invoice);
    const first = await upgrade(user);
    await deliver("customer.subscription.updated", stripe.fake.subscriptions.get(providerId) ?? {});
    expect((await deliver("invoice.paid", first)).outcome).toBe("proration_granted");
    // Back to Pro at once, as an operator can in Stripe's Dashboard: a credit, nothing paid.
    const proPrice = (step.invoice.lines as { data: { pricing: { price_details: { price: string } } }[] })
      .data[0]?.pricing.price_details.price;
    const back = stripe.fake.billing.handle(
      "POST",
      `/v1/subscriptions/${providerId}`,
      new URLSearchParams({ "items[0][price]": proPrice ?? "" }),
      new URLSearchParams(),
    );
    expect(back?.status).toBe(200);
    await deliver("customer.subscription.updated", stripe.fake.subscriptions.get(providerId) ?? {});
    const balance = await balanceOf(database.db, user.id);
    const second = await upgrade(user);
    expect(second.amount_paid as number).toBeGreaterThan(0);
    return { user, providerId, second, balance };
  }

  it("paid, nothing granted: recorded with 0 credits and the invoice's own plan; an Admin refund takes nothing back and does not fail", async () => {
    const { user, providerId, second, balance } = await secondUpgrade();
    await deliver("customer.subscription.updated", stripe.fake.subscriptions.get(providerId) ?? {});
    expect((await deliver("invoice.paid", second)).outcome).toContain("proration_nothing");
    expect(await balanceOf(database.db, user.id)).toBe(balance);
    const purchase = await purchaseOfInvoice(database.db, second.id as string);
    expect(purchase).toMatchObject({
      status: "succeeded",
      kind: "subscription_invoice",
      packageId: "max-monthly",
      credits: 0,
      amount: second.amount_paid,
    });
    expect(purchase?.creditsIssued ?? 0).toBe(0);
    if (!purchase) throw new Error("the invoice is a purchase");

    // Admin refunds it in full; the refund's event takes nothing back.
    const before = stripe.fake.billing.refunds.length;
    await refundPurchase(
      database.db,
      getPaymentProvider(database.db),
      { purchaseId: purchase.id, reason: "charged for nothing" },
      { userId: user.id, label: "ops@example.test" },
    );
    expect(stripe.fake.billing.refunds.slice(before)).toEqual([
      expect.objectContaining({ paymentIntent: purchase.paymentIntentId }),
    ]);
    const refunded = await deliver(
      "charge.refunded",
      refundedChargeOf(stripe.fake, second, second.amount_paid as number),
    );
    expect(refunded.status).toBe(200);
    expect(await balanceOf(database.db, user.id)).toBe(balance);
    expect(await purchaseOfInvoice(database.db, second.id as string)).toMatchObject({
      credits: 0,
      amountRefunded: second.amount_paid,
      clawedBackCredits: 0,
    });
    // A replay records no second purchase and changes nothing.
    await deliver("invoice.paid", second);
    expect(await balanceOf(database.db, user.id)).toBe(balance);
  });

  it("refunded in the Dashboard before its invoice.paid: the pending purchase records 0, and completes with 0, never a placeholder", async () => {
    const { user, second, balance } = await secondUpgrade();
    expect(
      (await deliver("charge.refunded", refundedChargeOf(stripe.fake, second, second.amount_paid as number)))
        .outcome,
    ).toBe("awaiting_grant");
    expect(await purchaseOfInvoice(database.db, second.id as string)).toMatchObject({
      status: "pending",
      credits: 0,
    });
    expect((await deliver("invoice.paid", second)).outcome).toContain("proration_nothing");
    expect(await purchaseOfInvoice(database.db, second.id as string)).toMatchObject({
      status: "succeeded",
      credits: 0,
      amountRefunded: second.amount_paid,
      clawedBackCredits: 0,
    });
    expect(await balanceOf(database.db, user.id)).toBe(balance);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { settlePendingInvoicePurchases } from "../../src/payment/settle-pending-invoice-purchases";
import { useAppDatabase } from "../support/app-database";
import { signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { balanceOf, purchaseOfInvoice } from "../support/rows";
import { sequencedDelivery, setUpStripeApp } from "../support/stripe-app";
import { testId } from "../support/stripe-events";
import { checkOutAtStripe, refundedChargeOf } from "../support/stripe-subscriptions";
import { databaseKinds } from "../support/test-database";

// A refund of a subscription invoice came before its invoice.paid and recorded a pending purchase; then
// invoice.paid never came (Stripe gave up, an endpoint was down). The payment maintenance asks Stripe (the
// local stand-in) for the invoice after an hour: paid → applied as invoice.paid would be, once; void,
// uncollectible or unknown → the purchase ends `invoice_unpaid`, which Admin shows in words.
const stripe = setUpStripeApp("pending_invoice_purchases");

const deliver = sequencedDelivery(stripe);
const HOURS = 3600_000;

describe.each(databaseKinds())("pending subscription invoice purchases, on %s", (kind) => {
  const database = useAppDatabase(kind);
  afterEach(async () => {
    await assertLedgerInvariants(database.db);
  });

  /** A Pro subscriber whose renewal was paid at Stripe and refunded by `refunded` before its invoice.paid. */
  async function refundedBeforeInvoicePaid(refunded: number) {
    const user = await signUp(`${testId("pending-inv")}@example.com`);
    const first = await checkOutAtStripe(stripe.fake, user);
    await deliver("checkout.session.completed", first.session);
    await deliver("customer.subscription.created", first.subscription);
    expect((await deliver("invoice.paid", first.invoice)).outcome).toContain("granted");
    const renewal = stripe.fake.billing.renew(first.subscription.id as string).invoice;
    if (!renewal) throw new Error("renewal invoiced");
    const invoiceId = renewal.id as string;
    const refund = await deliver("charge.refunded", refundedChargeOf(stripe.fake, renewal, refunded));
    expect(refund.outcome).toBe("awaiting_grant");
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ status: "pending" });
    return { user, renewal, invoiceId };
  }

  it("paid at the provider: applied once after the grace period, the refund settled; a late invoice.paid changes nothing", async () => {
    const { user, renewal, invoiceId } = await refundedBeforeInvoicePaid(950);
    const provider = getPaymentProvider(database.db);
    // Within the hour invoice.paid may still come: left alone.
    expect(await settlePendingInvoicePurchases(database.db, provider)).toMatchObject({ checked: 0 });
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ status: "pending" });

    const later = { now: new Date(Date.now() + 2 * HOURS) };
    const [first, second] = [
      await settlePendingInvoicePurchases(database.db, provider, later),
      await settlePendingInvoicePurchases(database.db, provider, later),
    ];
    expect(first).toMatchObject({ checked: 1, applied: 1 });
    // The purchase is complete now: the second run has nothing left to ask about.
    expect(second).toMatchObject({ checked: 0 });
    expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
      status: "succeeded",
      credits: 1000,
      amountRefunded: 950,
      clawedBackCredits: 500,
    });
    // Period 1's 1,000, and period 2's 1,000 less the refunded half.
    expect(await balanceOf(database.db, user.id)).toBe(1500);

    expect((await deliver("invoice.paid", renewal)).outcome).toContain("already_granted");
    expect(await balanceOf(database.db, user.id)).toBe(1500);
  });

  it.each([
    ["void", "invoice_void"],
    ["uncollectible", "invoice_uncollectible"],
  ])(
    "%s at the provider: the purchase ends invoice_unpaid with the reason, nothing granted",
    async (status, code) => {
      const { user, invoiceId } = await refundedBeforeInvoicePaid(1900);
      const invoice = stripe.fake.billing.invoices.get(invoiceId);
      if (!invoice) throw new Error("invoice kept by the stand-in");
      invoice.status = status;
      const provider = getPaymentProvider(database.db);
      const report = await settlePendingInvoicePurchases(database.db, provider, {
        now: new Date(Date.now() + 2 * HOURS),
      });
      expect(report).toMatchObject({ unpaid: 1, applied: 0 });
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({
        status: "invoice_unpaid",
        failureCode: code,
        failureMessage: expect.stringContaining(status),
      });
      expect(await balanceOf(database.db, user.id)).toBe(1000);
      // Terminal: a later run leaves it alone.
      expect(
        await settlePendingInvoicePurchases(database.db, provider, { now: new Date(Date.now() + 3 * HOURS) }),
      ).toMatchObject({ unpaid: 0 });
      expect(await purchaseOfInvoice(database.db, invoiceId)).toMatchObject({ status: "invoice_unpaid" });
    },
  );

  it("unknown to the provider: invoice_unpaid (invoice_not_found); an open one waits", async () => {
    const open = await refundedBeforeInvoicePaid(1900);
    const gone = await refundedBeforeInvoicePaid(1900);
    const openInvoice = stripe.fake.billing.invoices.get(open.invoiceId);
    if (!openInvoice) throw new Error("invoice kept by the stand-in");
    openInvoice.status = "open";
    stripe.fake.billing.invoices.delete(gone.invoiceId);
    const provider = getPaymentProvider(database.db);
    await settlePendingInvoicePurchases(database.db, provider, { now: new Date(Date.now() + 2 * HOURS) });
    expect(await purchaseOfInvoice(database.db, gone.invoiceId)).toMatchObject({
      status: "invoice_unpaid",
      failureCode: "invoice_not_found",
    });
    expect(await purchaseOfInvoice(database.db, open.invoiceId)).toMatchObject({ status: "pending" });
  });
});

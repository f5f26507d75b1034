import { and, eq } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, creditPurchase, subscriptionPeriodGrant } from "../../src/db/schema";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { assertLedgerInvariants } from "../support/invariants";
import { configureServerEnv } from "../support/server-env";
import {
  chargeObject,
  invoiceLineObject,
  invoiceObject,
  stripeEventPayload,
  subscriptionObject,
  testId,
} from "../support/stripe-events";
import { insertStripePlanPrices, seedStripeSubscription } from "../support/stripe-subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Attacks on a plan change made with `proration_behavior: create_prorations` combined with refunds: the
// pending proration items ride on a later invoice, and refunds of that invoice or of the period's own
// invoice must take back, by the proportional rules, from that invoice's own lots only, leave no negative
// balance without recorded debt, and keep `verify` clean. Stripe's shapes, signed with the SDK.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const PRO_PRICE = testId("price");
const MAX_PRICE = testId("price");
const at = (iso: string) => new Date(iso);
const MARCH = { start: at("2031-03-01T10:00:00Z"), end: at("2031-03-31T10:00:00Z") };
const APRIL = { start: MARCH.end, end: at("2031-04-30T10:00:00Z") };
/** Moved to Max on March 11: 20 of the period's 30 days left. */
const REST = { start: at("2031-03-11T10:00:00Z"), end: MARCH.end };
const CREDIT = -Math.round((1900 * 20) / 30); // -1267: Pro's unused time
const CHARGE = Math.round((4900 * 20) / 30); // 3267: Max for the rest
const PRORATED = CREDIT + CHARGE; // 2000 paid for the change
const EXTRA = Math.floor((4000 * 20) / 30); // 2666 credits for it
const MID_MARCH = at("2031-03-12T00:00:00Z");
const IN_APRIL = at("2031-04-02T00:00:00Z");

describe.each(databaseKinds())("create_prorations and refunds (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    await insertStripePlanPrices(database.db, [
      { priceId: PRO_PRICE, planId: "pro-monthly" },
      { priceId: MAX_PRICE, planId: "max-monthly" },
    ]);
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  type Sub = Awaited<ReturnType<typeof seedStripeSubscription>>;
  const apply = (type: string, object: Record<string, unknown>, now: Date) =>
    processWebhookEvent(database.db, JSON.parse(stripeEventPayload(type, object)) as Stripe.Event, { now });

  /** An invoice paid by its own PaymentIntent (listed under `payments`, as `expand: ['payments']` gives). */
  function paidInvoice(sub: Sub, id: string, lines: Record<string, unknown>[], billingReason: string) {
    const paymentIntent = testId("pi");
    const invoice = invoiceObject({
      id,
      customer: sub.customer,
      subscription: sub.providerSubscriptionId,
      subscriptionMetadata: { subscriptionId: sub.row.id, userId: sub.userId },
      amountPaid: lines.reduce((sum, line) => sum + (line.amount as number), 0),
      billingReason,
      lines,
    });
    invoice.payments = {
      object: "list",
      has_more: false,
      url: `/v1/invoices/${id}/payments`,
      data: [
        {
          id: testId("inpay"),
          object: "invoice_payment",
          invoice: id,
          is_default: true,
          status: "paid",
          amount_paid: invoice.amount_paid,
          currency: "usd",
          payment: { type: "payment_intent", payment_intent: paymentIntent },
        },
      ],
    };
    return { invoice, paymentIntent, amount: invoice.amount_paid as number };
  }
  const baseLine = (sub: Sub, invoiceId: string, price: string, amount: number, period = MARCH) =>
    invoiceLineObject({
      invoice: invoiceId,
      subscription: sub.providerSubscriptionId,
      price,
      amount,
      period,
    });
  /** A pending invoice item's proration line, as Stripe puts it on the invoice that collects it. */
  const pendingItemLine = (sub: Sub, invoiceId: string, price: string, amount: number) => {
    const line = baseLine(sub, invoiceId, price, amount, REST);
    line.parent = {
      type: "invoice_item_details",
      subscription_item_details: null,
      invoice_item_details: {
        invoice_item: testId("ii"),
        proration: true,
        proration_details: { credited_items: null },
        subscription: sub.providerSubscriptionId,
      },
    };
    return line;
  };
  type Paid = ReturnType<typeof paidInvoice>;
  const refunded = (paid: Paid, amountRefunded: number, now: Date) =>
    apply(
      "charge.refunded",
      chargeObject({
        id: `ch_${paid.invoice.id as string}`,
        amount: paid.amount,
        currency: "usd",
        payment_intent: paid.paymentIntent,
        amount_refunded: amountRefunded,
      }),
      now,
    );

  const balanceOf = (userId: string, now: Date) => getBalance(database.db, userId, now);
  const purchaseOf = async (invoiceId: string) =>
    (await database.db.select().from(creditPurchase).where(eq(creditPurchase.invoiceId, invoiceId)))[0];
  /** The lot a kind of grant of an invoice wrote, with what is left of it. */
  const lotOf = async (invoiceId: string, kindOfGrant: string) => {
    const [row] = await database.db
      .select({ lot: creditLot })
      .from(subscriptionPeriodGrant)
      .innerJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .where(
        and(eq(subscriptionPeriodGrant.invoiceId, invoiceId), eq(subscriptionPeriodGrant.kind, kindOfGrant)),
      );
    return row?.lot;
  };

  /**
   * A Pro subscriber paid for March, moved to Max on March 11 with create_prorations (no invoice then),
   * whose pending proration items were invoiced and paid at once (a `manual` invoice, mid-period).
   */
  async function upgradedMidMarch() {
    const sub = await seedStripeSubscription(database.db);
    const marchId = testId("in");
    const march = paidInvoice(sub, marchId, [baseLine(sub, marchId, PRO_PRICE, 1900)], "subscription_create");
    expect(await apply("invoice.paid", march.invoice, at("2031-03-02T00:00:00Z"))).toBe("granted");
    await apply(
      "customer.subscription.updated",
      subscriptionObject({
        id: sub.providerSubscriptionId,
        customer: sub.customer,
        status: "active",
        price: MAX_PRICE,
        period: MARCH,
        metadata: { subscriptionId: sub.row.id, userId: sub.userId },
      }),
      at("2031-03-11T11:00:00Z"),
    );
    const upgradeId = testId("in");
    const upgrade = paidInvoice(
      sub,
      upgradeId,
      [
        pendingItemLine(sub, upgradeId, PRO_PRICE, CREDIT),
        pendingItemLine(sub, upgradeId, MAX_PRICE, CHARGE),
      ],
      "manual",
    );
    expect(upgrade.amount).toBe(PRORATED);
    expect(await apply("invoice.paid", upgrade.invoice, MID_MARCH)).toBe("proration_granted");
    expect((await balanceOf(sub.userId, MID_MARCH)).balance).toBe(1000 + EXTRA);
    return { sub, march, upgrade };
  }

  it("the proration invoice refunded in full: its 2,666 go back from its own lot, March's 1,000 stay", async () => {
    const { sub, march, upgrade } = await upgradedMidMarch();
    await refunded(upgrade, PRORATED, MID_MARCH);
    await refunded(upgrade, PRORATED, MID_MARCH); // Stripe's retry under a new event id
    expect(await balanceOf(sub.userId, MID_MARCH)).toMatchObject({ balance: 1000, debt: 0 });
    expect((await lotOf(upgrade.invoice.id as string, "proration"))?.remaining).toBe(0);
    expect((await lotOf(march.invoice.id as string, "period"))?.remaining).toBe(1000);
    expect(await purchaseOf(upgrade.invoice.id as string)).toMatchObject({
      credits: EXTRA,
      clawedBackCredits: EXTRA,
    });
  });

  it("the proration invoice refunded in part: floor(2,666 × 1,000 / 2,000) = 1,333 from its own lot", async () => {
    const { sub, march, upgrade } = await upgradedMidMarch();
    await refunded(upgrade, 1000, MID_MARCH);
    expect(await balanceOf(sub.userId, MID_MARCH)).toMatchObject({ balance: 1000 + EXTRA - 1333, debt: 0 });
    expect((await lotOf(upgrade.invoice.id as string, "proration"))?.remaining).toBe(EXTRA - 1333);
    expect((await lotOf(march.invoice.id as string, "period"))?.remaining).toBe(1000);
    // The rest refunded later: together the whole 2,666, never more.
    await refunded(upgrade, PRORATED, MID_MARCH);
    expect((await balanceOf(sub.userId, MID_MARCH)).balance).toBe(1000);
  });

  it("the proration's credits spent, then refunded in full: what is gone becomes recorded debt, never a negative balance", async () => {
    const { sub, upgrade } = await upgradedMidMarch();
    await consumeCredits(
      database.db,
      { userId: sub.userId, amount: 3500, description: "work", idempotencyKey: testId("w") },
      MID_MARCH,
    );
    await refunded(upgrade, PRORATED, MID_MARCH);
    // 3,666 − 3,500 = 166 left: 166 taken from the balance, 2,500 owed.
    expect(await balanceOf(sub.userId, MID_MARCH)).toMatchObject({ balance: 0, debt: EXTRA - 166 });
    expect(await purchaseOf(upgrade.invoice.id as string)).toMatchObject({ clawedBackCredits: EXTRA });
  });

  it("March's invoice refunded after the upgrade: only March's lot pays, the upgrade's credits stay", async () => {
    const { sub, march, upgrade } = await upgradedMidMarch();
    // The refundable rest of March (1,900 less the 1,267 the change credited back), as Admin would refund it.
    await refunded(march, 1900 + CREDIT, MID_MARCH);
    const taken = Math.floor((1000 * (1900 + CREDIT)) / 1900);
    expect(await balanceOf(sub.userId, MID_MARCH)).toMatchObject({ balance: 1000 - taken + EXTRA, debt: 0 });
    expect((await lotOf(upgrade.invoice.id as string, "proration"))?.remaining).toBe(EXTRA);
    // Then a Dashboard refund of the whole of March (a fact, recorded whatever the cap): March's 1,000 only.
    await refunded(march, 1900, MID_MARCH);
    expect(await balanceOf(sub.userId, MID_MARCH)).toMatchObject({ balance: EXTRA, debt: 0 });
    expect((await lotOf(march.invoice.id as string, "period"))?.remaining).toBe(0);
  });

  it("the refunded upgrade does not carry: April receives March's own unspent 1,000 and Max's 5,000", async () => {
    const { sub, upgrade } = await upgradedMidMarch();
    await refunded(upgrade, PRORATED, MID_MARCH);
    const aprilId = testId("in");
    const april = paidInvoice(
      sub,
      aprilId,
      [baseLine(sub, aprilId, MAX_PRICE, 4900, APRIL)],
      "subscription_cycle",
    );
    expect(await apply("invoice.paid", april.invoice, IN_APRIL)).toBe("granted+rolled_over");
    expect(await balanceOf(sub.userId, IN_APRIL)).toMatchObject({ balance: 5000 + 1000, debt: 0 });
  });

  it("the proration refunded after its unspent credits carried into April: the carried share goes back too", async () => {
    const { sub, march, upgrade } = await upgradedMidMarch();
    const aprilId = testId("in");
    const april = paidInvoice(
      sub,
      aprilId,
      [baseLine(sub, aprilId, MAX_PRICE, 4900, APRIL)],
      "subscription_cycle",
    );
    expect(await apply("invoice.paid", april.invoice, IN_APRIL)).toBe("granted+rolled_over");
    // March's 1,000 and the upgrade's 2,666, unspent, carried (Max's cap is 5,000).
    expect((await balanceOf(sub.userId, IN_APRIL)).balance).toBe(5000 + 1000 + EXTRA);
    // The upgrade's money goes back in full: its credits must not live on in the carry.
    await refunded(upgrade, PRORATED, IN_APRIL);
    expect(await balanceOf(sub.userId, IN_APRIL)).toMatchObject({ balance: 5000 + 1000, debt: 0 });
    // March refunded in full as well: its own carried 1,000 go back; April's 5,000 stay.
    await refunded(march, 1900, IN_APRIL);
    expect(await balanceOf(sub.userId, IN_APRIL)).toMatchObject({ balance: 5000, debt: 0 });
  });

  it("the renewal that carried the pending items after March, refunded: its 5,000 only, the items granted nothing", async () => {
    const sub = await seedStripeSubscription(database.db);
    const marchId = testId("in");
    const march = paidInvoice(sub, marchId, [baseLine(sub, marchId, PRO_PRICE, 1900)], "subscription_create");
    await apply("invoice.paid", march.invoice, at("2031-03-02T00:00:00Z"));
    const renewalId = testId("in");
    const renewal = paidInvoice(
      sub,
      renewalId,
      [
        pendingItemLine(sub, renewalId, PRO_PRICE, CREDIT),
        pendingItemLine(sub, renewalId, MAX_PRICE, CHARGE),
        baseLine(sub, renewalId, MAX_PRICE, 4900, APRIL),
      ],
      "subscription_cycle",
    );
    const outcome = await apply("invoice.paid", renewal.invoice, IN_APRIL);
    expect(outcome).toContain("proration_period_over");
    // Max's April 5,000 and March's unspent 1,000 carried.
    expect((await balanceOf(sub.userId, IN_APRIL)).balance).toBe(6000);
    expect(await purchaseOf(renewalId)).toMatchObject({ credits: 5000, amount: 4900 + PRORATED });
    // Refunded in part (the share of the items): the proportional share of what the invoice granted.
    await refunded(renewal, PRORATED, IN_APRIL);
    const share = Math.floor((5000 * PRORATED) / (4900 + PRORATED));
    expect(await balanceOf(sub.userId, IN_APRIL)).toMatchObject({ balance: 6000 - share, debt: 0 });
    // Then in full: all of April's 5,000, and March's carry (its own invoice's) stays.
    await refunded(renewal, 4900 + PRORATED, IN_APRIL);
    expect(await balanceOf(sub.userId, IN_APRIL)).toMatchObject({ balance: 1000, debt: 0 });
    expect((await lotOf(renewalId, "period"))?.remaining).toBe(0);
  });
});

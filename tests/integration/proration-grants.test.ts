import { and, eq } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, subscriptionPeriodGrant } from "../../src/db/schema";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { assertLedgerInvariants } from "../support/invariants";
import { entriesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import {
  invoiceLineObject,
  invoiceObject,
  stripeEventPayload,
  subscriptionObject,
  testId,
} from "../support/stripe-events";
import {
  deliverSignedPayload,
  insertStripePlanPrices,
  seedStripeSubscription,
} from "../support/stripe-subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Stripe's shapes, signed with the SDK, as Stripe sends an upgrade's invoice (`proration_behavior:
// always_invoice`): a line crediting the old price's unused time and one charging the new price's.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const PRO_PRICE = testId("price");
const MAX_PRICE = testId("price");
const at = (iso: string) => new Date(iso);
const MARCH = { start: at("2031-03-01T10:00:00Z"), end: at("2031-03-31T10:00:00Z") };
/** Upgraded on March 11: 20 of the period's 30 days left. */
const REST = { start: at("2031-03-11T10:00:00Z"), end: MARCH.end };
const EXTRA = Math.floor((4000 * 20) / 30);

const deliver = deliverSignedPayload;

describe.each(databaseKinds())("an upgrade's proration invoice grants the difference once (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 15 });
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

  const proSubscription = () => seedStripeSubscription(database.db);
  type Sub = Awaited<ReturnType<typeof proSubscription>>;

  function invoice(
    sub: Sub,
    lines: { price: string; amount: number; period: { start: Date; end: Date }; proration: boolean }[],
  ) {
    const id = testId("in");
    return invoiceObject({
      id,
      customer: sub.customer,
      subscription: sub.providerSubscriptionId,
      subscriptionMetadata: { subscriptionId: sub.row.id, userId: sub.userId },
      amountPaid: Math.max(
        0,
        lines.reduce((sum, line) => sum + line.amount, 0),
      ),
      billingReason: lines.some((line) => line.proration) ? "subscription_update" : "subscription_cycle",
      lines: lines.map((line) =>
        invoiceLineObject({ invoice: id, subscription: sub.providerSubscriptionId, ...line }),
      ),
    });
  }

  const march = (sub: Sub) =>
    invoice(sub, [{ price: PRO_PRICE, amount: 1900, period: MARCH, proration: false }]);
  const upgrade = (sub: Sub) =>
    invoice(sub, [
      { price: PRO_PRICE, amount: -Math.round((1900 * 20) / 30), period: REST, proration: true },
      { price: MAX_PRICE, amount: Math.round((4900 * 20) / 30), period: REST, proration: true },
    ]);
  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const prorationGrants = (userId: string) =>
    database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, userId), eq(subscriptionPeriodGrant.kind, "proration")));

  it("grants floor(4000 × 20/30) = 2,666 expiring with the period; redelivered or under a new event id, once", async () => {
    const sub = await proSubscription();
    await deliver(stripeEventPayload("invoice.paid", march(sub)));
    const paid = upgrade(sub);
    const first = stripeEventPayload("invoice.paid", paid);

    expect(await deliver(first)).toEqual({
      status: 200,
      body: { received: true, outcome: "proration_granted" },
    });
    expect(await deliver(first)).toEqual({ status: 200, body: { received: true, outcome: "duplicate" } });
    expect((await deliver(stripeEventPayload("invoice.paid", paid))).body.outcome).toBe(
      "proration_already_granted",
    );

    expect(EXTRA).toBe(2666);
    expect(await balanceOf(sub.userId)).toBe(1000 + EXTRA);
    expect(await prorationGrants(sub.userId)).toEqual([
      expect.objectContaining({
        invoiceId: paid.id,
        planId: "max-monthly",
        credits: EXTRA,
        status: "granted",
        periodStart: REST.start,
        periodEnd: REST.end,
      }),
    ]);
    const lots = await database.db.select().from(creditLot).where(eq(creditLot.userId, sub.userId));
    expect(lots.map((lot) => [lot.credits, lot.expiresAt?.toISOString()]).sort()).toEqual(
      [
        [1000, MARCH.end.toISOString()],
        [EXTRA, MARCH.end.toISOString()],
      ].sort(),
    );
  });

  it("reordered: before the period it prorates is known the event fails and is kept; its redelivery grants once", async () => {
    const sub = await proSubscription();
    const early = stripeEventPayload("invoice.paid", upgrade(sub));

    const refused = await deliver(early);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(await balanceOf(sub.userId)).toBe(0);

    await deliver(stripeEventPayload("invoice.paid", march(sub)));
    expect(await deliver(early)).toEqual({
      status: 200,
      body: { received: true, outcome: "proration_granted" },
    });
    expect(await balanceOf(sub.userId)).toBe(1000 + EXTRA);
  });

  it("lines that only credit (a move to a plan granting no more) grant nothing and take nothing", async () => {
    const sub = await proSubscription();
    await deliver(stripeEventPayload("invoice.paid", march(sub)));
    const creditOnly = invoice(sub, [
      { price: PRO_PRICE, amount: -Math.round((1900 * 20) / 30), period: REST, proration: true },
    ]);
    expect((await deliver(stripeEventPayload("invoice.paid", creditOnly))).body.outcome).toBe(
      "proration_nothing",
    );
    expect(await balanceOf(sub.userId)).toBe(1000);
    expect(await prorationGrants(sub.userId)).toEqual([]);
  });

  it.runIf(kind === "postgres")(
    "10 concurrent deliveries under 10 event ids grant once (PostgreSQL)",
    async () => {
      const sub = await proSubscription();
      await deliver(stripeEventPayload("invoice.paid", march(sub)));
      const paid = upgrade(sub);
      const deliveries = await Promise.all(
        Array.from({ length: 10 }, () => deliver(stripeEventPayload("invoice.paid", paid))),
      );
      expect(deliveries.map((delivery) => delivery.body.outcome).sort()).toEqual(
        ["proration_granted", ...Array.from({ length: 9 }, () => "proration_already_granted")].sort(),
      );
      expect(await balanceOf(sub.userId)).toBe(1000 + EXTRA);
      expect(await prorationGrants(sub.userId)).toHaveLength(1);
    },
  );

  // A change made with `proration_behavior: create_prorations` (a merchant's own portal configuration or
  // API call) invoices nothing at once: its proration lines wait as pending invoice items and ride on the
  // next invoice. The rule: the difference is granted only when the invoice carrying the lines is paid
  // while the prorated time still runs. On the renewal the prorated time is over, so nothing is granted
  // for it (the new plan's credits come with the renewal's own period); nothing is ever granted for the
  // change itself, before any money is paid.
  describe("create_prorations: the proration lines are paid with a later invoice", () => {
    const APRIL = { start: MARCH.end, end: at("2031-04-30T10:00:00Z") };
    const apply = (type: string, object: Record<string, unknown>, now: Date) =>
      processWebhookEvent(database.db, JSON.parse(stripeEventPayload(type, object)) as Stripe.Event, { now });
    /** A pending invoice item's proration line, as Stripe puts it on the invoice that collects it. */
    const pendingItemLine = (sub: Sub, invoiceId: string, price: string, amount: number) => {
      const line = invoiceLineObject({
        invoice: invoiceId,
        subscription: sub.providerSubscriptionId,
        price,
        amount,
        period: REST,
        proration: true,
      });
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
    const withPendingItems = (sub: Sub, billingReason: string, base?: Record<string, unknown>) => {
      const id = testId("in");
      const lines = [
        pendingItemLine(sub, id, PRO_PRICE, -Math.round((1900 * 20) / 30)),
        pendingItemLine(sub, id, MAX_PRICE, Math.round((4900 * 20) / 30)),
        ...(base ? [{ ...base, invoice: id }] : []),
      ];
      return invoiceObject({
        id,
        customer: sub.customer,
        subscription: sub.providerSubscriptionId,
        subscriptionMetadata: { subscriptionId: sub.row.id, userId: sub.userId },
        amountPaid: lines.reduce((sum, line) => sum + (line.amount as number), 0),
        billingReason,
        lines,
      });
    };
    const subscriptionEntries = async (userId: string) =>
      (await entriesOf(database.db, userId)).filter((entry) => entry.type === "subscription");

    it("the change alone grants nothing; the renewal carrying its lines grants Max's period, not the past difference", async () => {
      const sub = await proSubscription();
      await apply("invoice.paid", march(sub), at("2031-03-02T00:00:00Z"));
      // The portal moved the subscription to Max with create_prorations: no invoice, no money, no credits.
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
      expect((await subscriptionEntries(sub.userId)).map((entry) => entry.amount)).toEqual([1000]);

      const april = invoiceLineObject({
        invoice: "",
        subscription: sub.providerSubscriptionId,
        price: MAX_PRICE,
        amount: 4900,
        period: APRIL,
      });
      const renewal = withPendingItems(sub, "subscription_cycle", april);
      const afterRenewal = at("2031-03-31T10:05:00Z");
      const outcome = await apply("invoice.paid", renewal, afterRenewal);
      expect(outcome).toContain("proration_period_over");
      await apply("invoice.paid", renewal, afterRenewal);
      expect(
        (await subscriptionEntries(sub.userId)).map((entry) => entry.amount).sort((a, b) => a - b),
      ).toEqual([1000, 5000]);
      expect(await prorationGrants(sub.userId)).toEqual([
        expect.objectContaining({ invoiceId: renewal.id, status: "period_over", credits: 0 }),
      ]);
    });

    it("pending proration items invoiced mid-period (an invoice made at once) grant the difference when paid", async () => {
      const sub = await proSubscription();
      await apply("invoice.paid", march(sub), at("2031-03-02T00:00:00Z"));
      const now = at("2031-03-11T12:00:00Z");
      const manual = withPendingItems(sub, "manual");
      // Not paid yet: an open invoice grants nothing.
      await apply("invoice.finalized", { ...manual, status: "open", amount_paid: 0 }, now);
      expect((await subscriptionEntries(sub.userId)).map((entry) => entry.amount)).toEqual([1000]);
      expect(await apply("invoice.paid", manual, now)).toBe("proration_granted");
      expect(await apply("invoice.paid", manual, now)).toBe("proration_already_granted");
      expect(await prorationGrants(sub.userId)).toEqual([
        expect.objectContaining({ invoiceId: manual.id, status: "granted", credits: EXTRA }),
      ]);
    });
  });
});

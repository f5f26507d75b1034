import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditLot,
  planPrice,
  subscription,
  subscriptionPeriodGrant,
  webhookFailure,
} from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { resolveWebhookFailure } from "../../src/payment/webhooks/record-webhook-failure";
import { APP_ORIGIN } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { webhookPost } from "../support/route-handlers";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  invoiceLineObject,
  invoiceObject,
  signPayload,
  stripeEventPayload,
  subscriptionObject,
  testId,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Sandbox mode: the webhook route checks signatures against the sandbox's generated secret. The events
// here are Stripe's shapes, signed with the SDK, as Stripe would send them for a subscription of ours.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const PRO_PRICE = testId("price");
const MAX_PRICE = testId("price");
const YEARLY_PRICE = testId("price");
const at = (iso: string) => new Date(iso);

type Delivery = { status: number; body: { outcome?: string; error?: { code: string } } };

async function deliver(payload: string): Promise<Delivery> {
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
  return { status: response.status, body: (await response.json()) as Delivery["body"] };
}

describe.each(databaseKinds())(
  "subscription credits come only from a paid invoice, once per period (%s)",
  (kind) => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase(kind, { poolSize: 25 });
      useDatabaseConnection(database);
      // The provider's prices of the plans, as syncing them with Stripe records them.
      await database.db.insert(planPrice).values([
        {
          priceId: PRO_PRICE,
          provider: "stripe",
          planId: "pro-monthly",
          amount: 1900,
          currency: "usd",
          interval: "month",
          lookupKey: "creditkit:pro-monthly:1900:usd",
        },
        {
          priceId: MAX_PRICE,
          provider: "stripe",
          planId: "max-monthly",
          amount: 4900,
          currency: "usd",
          interval: "month",
          lookupKey: "creditkit:max-monthly:4900:usd",
        },
        {
          priceId: YEARLY_PRICE,
          provider: "stripe",
          planId: "pro-yearly",
          amount: 19000,
          currency: "usd",
          interval: "year",
          lookupKey: "creditkit:pro-yearly:19000:usd",
        },
      ]);
    });
    afterEach(async () => {
      if (database) await assertLedgerInvariants(database.db);
    });
    afterAll(async () => {
      await database?.close();
    });

    /** A subscription of ours as subscribing leaves it: our row, the customer, and (once linked) Stripe's id. */
    async function ourSubscription(options: { linked?: boolean; planId?: string } = {}) {
      const userId = await seedUser(database.db);
      const customer = testId("cus");
      const providerSubscriptionId = testId("sub");
      const [row] = await database.db
        .insert(subscription)
        .values({
          userId,
          provider: "stripe",
          customerId: customer,
          planId: options.planId ?? "pro-monthly",
          status: options.linked === false ? "checkout" : "active",
          providerSubscriptionId: options.linked === false ? null : providerSubscriptionId,
        })
        .returning();
      if (!row) throw new Error("no subscription row");
      return { userId, customer, providerSubscriptionId, row };
    }

    type Sub = Awaited<ReturnType<typeof ourSubscription>>;

    function paidInvoice(
      sub: Sub,
      period: { start: Date; end: Date },
      options: {
        price?: string;
        amount?: number;
        status?: string;
        invoiceId?: string;
        metadata?: Record<string, string>;
      } = {},
    ) {
      const id = options.invoiceId ?? testId("in");
      const amount = options.amount ?? 1900;
      return invoiceObject({
        id,
        customer: sub.customer,
        subscription: sub.providerSubscriptionId,
        subscriptionMetadata: options.metadata ?? { subscriptionId: sub.row.id, userId: sub.userId },
        status: options.status,
        amountPaid: amount,
        lines: [
          invoiceLineObject({
            invoice: id,
            subscription: sub.providerSubscriptionId,
            price: options.price ?? PRO_PRICE,
            amount,
            period,
          }),
        ],
      });
    }

    const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
    const grantsOf = (userId: string) =>
      database.db.select().from(subscriptionPeriodGrant).where(eq(subscriptionPeriodGrant.userId, userId));
    const lotsOf = (userId: string) =>
      database.db.select().from(creditLot).where(eq(creditLot.userId, userId));

    const MARCH = { start: at("2031-03-01T10:00:00Z"), end: at("2031-03-31T10:00:00Z") };

    describe("rule 1: invoice.paid grants the period once", () => {
      it("grants 1,000 once: redelivered, and delivered again under a second event id", async () => {
        const sub = await ourSubscription();
        const invoice = paidInvoice(sub, MARCH);
        const first = stripeEventPayload("invoice.paid", invoice);

        expect(await deliver(first)).toEqual({ status: 200, body: { received: true, outcome: "granted" } });
        expect(await deliver(first)).toEqual({ status: 200, body: { received: true, outcome: "duplicate" } });
        const second = await deliver(stripeEventPayload("invoice.paid", invoice));
        expect(second).toEqual({ status: 200, body: { received: true, outcome: "already_granted" } });

        expect(await balanceOf(sub.userId)).toBe(1000);
        const entries = (await entriesOf(database.db, sub.userId)).filter(
          (entry) => entry.type === "subscription",
        );
        expect(entries).toHaveLength(1);
        expect(entries[0]).toMatchObject({ amount: 1000, reference: invoice.id });
        expect(await grantsOf(sub.userId)).toEqual([
          expect.objectContaining({
            invoiceId: invoice.id,
            kind: "period",
            status: "granted",
            credits: 1000,
          }),
        ]);
      });

      it("grants the plan of the line's price, as paid credits when the invoice took money", async () => {
        const sub = await ourSubscription({ planId: "max-monthly" });
        await deliver(
          stripeEventPayload("invoice.paid", paidInvoice(sub, MARCH, { price: MAX_PRICE, amount: 4900 })),
        );
        expect(await balanceOf(sub.userId)).toBe(5000);
        expect((await lotsOf(sub.userId))[0]).toMatchObject({ category: "paid", source: "subscription" });

        // A $0 invoice (a 100% coupon) grants the period too, as promotional credits.
        const free = await ourSubscription();
        await deliver(stripeEventPayload("invoice.paid", paidInvoice(free, MARCH, { amount: 0 })));
        expect(await balanceOf(free.userId)).toBe(1000);
        expect((await lotsOf(free.userId))[0]).toMatchObject({ category: "promotional" });
      });

      it("grants nothing for an invoice that is not paid, is not a subscription's, or is of a subscription not ours", async () => {
        const sub = await ourSubscription();
        const open = paidInvoice(sub, MARCH, { status: "open" });
        expect((await deliver(stripeEventPayload("invoice.paid", open))).body.outcome).toBe("not_paid");
        const manual = { ...paidInvoice(sub, MARCH), parent: null };
        expect((await deliver(stripeEventPayload("invoice.paid", manual))).body.outcome).toBe(
          "not_a_subscription_invoice",
        );
        // A subscription of the user's customer that no row of ours knows (no metadata of ours): it is no
        // subscription the app started, and the user already has one, so it is not adopted; the paid
        // invoice is refused and stored for an operator, with the reason (adopt-external-subscription.ts).
        const stranger = { ...sub, providerSubscriptionId: testId("sub") };
        const foreign = paidInvoice(stranger, MARCH, { metadata: {} });
        const eventId = testId("evt");
        const refused = await deliver(stripeEventPayload("invoice.paid", foreign, eventId));
        expect(refused.status).toBeGreaterThanOrEqual(400);
        const [failure] = await database.db
          .select()
          .from(webhookFailure)
          .where(eq(webhookFailure.eventId, eventId));
        expect(failure?.reason).toMatch(new RegExp(`${stranger.providerSubscriptionId} .*not adopted`));
        await resolveWebhookFailure(database.db, eventId, { by: "test", outcome: "dismissed" });
        expect(await balanceOf(sub.userId)).toBe(0);
        expect(await grantsOf(sub.userId)).toEqual([]);
      });

      it.runIf(kind === "postgres")(
        "20 concurrent deliveries under 20 event ids grant once (PostgreSQL)",
        async () => {
          const sub = await ourSubscription();
          const invoice = paidInvoice(sub, MARCH);
          const deliveries = await Promise.all(
            Array.from({ length: 20 }, () => deliver(stripeEventPayload("invoice.paid", invoice))),
          );
          const outcomes = deliveries.map((delivery) => delivery.body.outcome).sort();
          expect(outcomes).toEqual(
            ["granted", ...Array.from({ length: 19 }, () => "already_granted")].sort(),
          );
          expect(await balanceOf(sub.userId)).toBe(1000);
          expect(await grantsOf(sub.userId)).toHaveLength(1);
        },
      );
    });

    describe("rule 2: subscription events link, never grant", () => {
      it("customer.subscription.created links our row to Stripe's subscription and customer; balance stays 0", async () => {
        const sub = await ourSubscription({ linked: false });
        // Stripe can report a subscription `active` at creation: still no credits without a paid invoice.
        for (const status of ["incomplete", "active"]) {
          const created = subscriptionObject({
            id: sub.providerSubscriptionId,
            customer: sub.customer,
            status,
            price: PRO_PRICE,
            period: MARCH,
            metadata: { subscriptionId: sub.row.id, userId: sub.userId },
          });
          expect(
            (await deliver(stripeEventPayload("customer.subscription.created", created))).body.outcome,
          ).toBe("applied");
        }
        const [row] = await database.db.select().from(subscription).where(eq(subscription.id, sub.row.id));
        expect(row).toMatchObject({
          providerSubscriptionId: sub.providerSubscriptionId,
          customerId: sub.customer,
          status: "active",
          planId: "pro-monthly",
          currentPeriodStart: MARCH.start,
          currentPeriodEnd: MARCH.end,
        });
        expect(await balanceOf(sub.userId)).toBe(0);
        expect(await entriesOf(database.db, sub.userId)).toEqual([]);
      });

      it("a subscription of another customer naming our row is not linked, and the row is flagged", async () => {
        const sub = await ourSubscription({ linked: false });
        const impostor = subscriptionObject({
          id: sub.providerSubscriptionId,
          customer: testId("cus"),
          status: "active",
          price: PRO_PRICE,
          period: MARCH,
          metadata: { subscriptionId: sub.row.id },
        });
        expect(
          (await deliver(stripeEventPayload("customer.subscription.created", impostor))).body.outcome,
        ).toBe("unknown_subscription");
        const [row] = await database.db.select().from(subscription).where(eq(subscription.id, sub.row.id));
        expect(row?.providerSubscriptionId).toBeNull();
        expect(row?.flaggedReason).toMatch(/belongs to customer/);
      });

      it("a paid invoice arriving before any subscription event links by its metadata and grants", async () => {
        const sub = await ourSubscription({ linked: false });
        expect(
          (await deliver(stripeEventPayload("invoice.paid", paidInvoice(sub, MARCH)))).body.outcome,
        ).toBe("granted");
        const [row] = await database.db.select().from(subscription).where(eq(subscription.id, sub.row.id));
        expect(row?.providerSubscriptionId).toBe(sub.providerSubscriptionId);
        expect(await balanceOf(sub.userId)).toBe(1000);
      });
    });

    describe("rule 4: periods come from the invoice line, not the calendar", () => {
      it("the lot expires at the line's period.end", async () => {
        const sub = await ourSubscription();
        await deliver(stripeEventPayload("invoice.paid", paidInvoice(sub, MARCH)));
        const [lot] = await lotsOf(sub.userId);
        expect(lot?.expiresAt).toEqual(MARCH.end);
      });

      it("two periods starting Mar 1 and Mar 31 both grant (not one per calendar month)", async () => {
        const sub = await ourSubscription();
        const april = { start: MARCH.end, end: at("2031-04-30T10:00:00Z") };
        await deliver(stripeEventPayload("invoice.paid", paidInvoice(sub, MARCH)));
        // Granted; March's unspent credits carry once they have expired (until then the carry is `pending`).
        expect(
          (await deliver(stripeEventPayload("invoice.paid", paidInvoice(sub, april)))).body.outcome,
        ).toBe("granted+pending");
        expect(await balanceOf(sub.userId)).toBe(2000);
        const expiries = (await lotsOf(sub.userId)).map((lot) => lot.expiresAt?.toISOString()).sort();
        expect(expiries).toEqual([MARCH.end.toISOString(), april.end.toISOString()]);
      });

      it("one invoice spanning two calendar months grants once", async () => {
        const sub = await ourSubscription();
        const span = { start: at("2031-05-15T00:00:00Z"), end: at("2031-06-15T00:00:00Z") };
        await deliver(stripeEventPayload("invoice.paid", paidInvoice(sub, span)));
        expect(await balanceOf(sub.userId)).toBe(1000);
        expect(await lotsOf(sub.userId)).toEqual([
          expect.objectContaining({ credits: 1000, expiresAt: span.end }),
        ]);
      });

      it("an invoice paid after its period ended grants the period once, as a lot that has not expired", async () => {
        const sub = await ourSubscription();
        const past = { start: at("2020-01-01T00:00:00Z"), end: at("2020-02-01T00:00:00Z") };
        const late = stripeEventPayload("invoice.paid", paidInvoice(sub, past));
        expect((await deliver(late)).body.outcome).toBe("granted_late");
        await deliver(late.replace(/"id":"evt_[^"]+"/, `"id":"${testId("evt")}"`));
        expect(await balanceOf(sub.userId)).toBe(1000);
        // No period of the subscription is in force (none granted, none in its row): the paid period's
        // length from the payment.
        const [lot] = await lotsOf(sub.userId);
        expect(lot?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 30 * 86_400_000);
        expect(await grantsOf(sub.userId)).toEqual([
          expect.objectContaining({ status: "granted", credits: 1000, lotExpiresAt: lot?.expiresAt }),
        ]);
      });
    });

    describe("what the code cannot apply yet is refused and kept, never guessed or dropped", () => {
      async function unresolvedFailure(eventId: string) {
        const [row] = await database.db
          .select()
          .from(webhookFailure)
          .where(eq(webhookFailure.eventId, eventId));
        return row;
      }

      it("an event of another API version: refused, stored, applied once redelivered in the pinned version", async () => {
        const sub = await ourSubscription();
        const invoice = paidInvoice(sub, MARCH);
        const eventId = testId("evt");
        const old = stripeEventPayload("invoice.paid", invoice, eventId, undefined, "2024-06-20");
        const refused = await deliver(old);
        expect(refused.status).toBe(500);
        expect(await unresolvedFailure(eventId)).toMatchObject({
          errorCode: "unknown_event_value",
          resolvedAt: null,
        });
        expect(await balanceOf(sub.userId)).toBe(0);

        // The endpoint moved to the pinned version; Stripe's retry of the event now applies.
        expect((await deliver(stripeEventPayload("invoice.paid", invoice, eventId))).body.outcome).toBe(
          "granted",
        );
        expect((await unresolvedFailure(eventId))?.resolvedAt).toBeInstanceOf(Date);
        expect(await balanceOf(sub.userId)).toBe(1000);
      });

      it("a price that is no plan's, and a yearly plan's invoice: refused and stored", async () => {
        const sub = await ourSubscription();
        for (const price of [testId("price"), YEARLY_PRICE]) {
          const eventId = testId("evt");
          const refused = await deliver(
            stripeEventPayload("invoice.paid", paidInvoice(sub, MARCH, { price }), eventId),
          );
          expect(refused.status).toBe(500);
          expect((await unresolvedFailure(eventId))?.errorCode).toBe("unknown_event_value");
          // Resolved by an operator for the next test's `verify` (the event stays refused).
          await database.db
            .update(webhookFailure)
            .set({ resolvedAt: new Date(), resolvedBy: "test", resolution: "dismissed" })
            .where(eq(webhookFailure.eventId, eventId));
        }
        expect(await balanceOf(sub.userId)).toBe(0);
      });
    });
  },
);

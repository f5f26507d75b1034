import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { planPrice, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import { assertLedgerInvariants } from "../support/invariants";
import { webhookPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import {
  type Delivery,
  deliverStripeEvent,
  invoiceLineObject,
  invoiceObject,
  subscriptionObject,
  testId,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Stripe is the provider here, its API the local stand-in (STRIPE_API_BASE): where two reports of a
// subscription tie to the second, the handler asks the real SDK for the current object, never the network.
const WEBHOOK_SECRET = "whsec_test_subscription_state_suite";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_subscription_state",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_subscription_state",
    STRIPE_API_BASE: fake.url,
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const PRO_PRICE = testId("price");
const MARCH = { start: new Date("2031-03-01T10:00:00Z"), end: new Date("2031-03-31T10:00:00Z") };
const T0 = Math.floor(Date.now() / 1000) - 600;

const deliver = (type: string, object: Record<string, unknown>, created: number): Promise<Delivery> =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object, { created });

/** Every order of a list (n! of them). */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]),
  );
}

describe.each(databaseKinds())("subscription state converges whatever the order of events (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 15 });
    useDatabaseConnection(database);
    await database.db.insert(planPrice).values({
      priceId: PRO_PRICE,
      provider: "stripe",
      planId: "pro-monthly",
      amount: 1900,
      currency: "usd",
      interval: "month",
      lookupKey: "creditkit:pro-monthly:1900:usd",
    });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A subscription of ours as subscribing leaves it (not yet linked), with Stripe's ids for it. */
  async function ours() {
    const userId = await seedUser(database.db);
    const customer = testId("cus");
    const providerSubscriptionId = testId("sub");
    const [row] = await database.db
      .insert(subscription)
      .values({ userId, provider: "stripe", customerId: customer, planId: "pro-monthly", status: "checkout" })
      .returning();
    if (!row) throw new Error("no subscription row");
    const metadata = { subscriptionId: row.id, userId };
    const snapshot = (status: string, extra: Record<string, unknown> = {}) => ({
      ...subscriptionObject({
        id: providerSubscriptionId,
        customer,
        status,
        price: PRO_PRICE,
        period: MARCH,
        metadata,
      }),
      ...extra,
    });
    const invoiceId = testId("in");
    const paidInvoice = (status = "paid") =>
      invoiceObject({
        id: invoiceId,
        customer,
        subscription: providerSubscriptionId,
        subscriptionMetadata: metadata,
        status,
        amountPaid: 1900,
        billingReason: "subscription_create",
        lines: [
          invoiceLineObject({
            invoice: invoiceId,
            subscription: providerSubscriptionId,
            price: PRO_PRICE,
            amount: 1900,
            period: MARCH,
          }),
        ],
      });
    return { userId, row, providerSubscriptionId, snapshot, paidInvoice, invoiceId };
  }

  const rowOf = async (id: string) =>
    (await database.db.select().from(subscription).where(eq(subscription.id, id)))[0];
  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const grantsOf = (userId: string) =>
    database.db.select().from(subscriptionPeriodGrant).where(eq(subscriptionPeriodGrant.userId, userId));
  const ended = { ended_at: T0 + 20, canceled_at: T0 + 20 };

  it("updated and deleted before invoice.paid: the paid invoice still grants its period, the state stays canceled", async () => {
    const sub = await ours();
    expect(
      (await deliver("customer.subscription.deleted", sub.snapshot("canceled", ended), T0 + 20)).outcome,
    ).toBe("applied");
    // Older than what is held: ignored.
    expect((await deliver("customer.subscription.updated", sub.snapshot("active"), T0 + 10)).outcome).toBe(
      "stale",
    );
    expect((await deliver("invoice.paid", sub.paidInvoice(), T0 + 10)).outcome).toBe("granted");
    expect(await rowOf(sub.row.id)).toMatchObject({
      status: "canceled",
      endedAt: new Date((T0 + 20) * 1000),
    });
    expect(await balanceOf(sub.userId)).toBe(1000);
  });

  it("a late updated(active) after deleted, even in the same second, never reopens the subscription", async () => {
    const sub = await ours();
    await deliver("customer.subscription.updated", sub.snapshot("active"), T0);
    await deliver("customer.subscription.deleted", sub.snapshot("canceled", ended), T0 + 20);
    for (const created of [T0 + 20, T0 + 30]) {
      expect((await deliver("customer.subscription.updated", sub.snapshot("active"), created)).outcome).toBe(
        "not_forward",
      );
    }
    expect((await rowOf(sub.row.id))?.status).toBe("canceled");
    expect(await balanceOf(sub.userId)).toBe(0);
  });

  it("two reports in the same second (active ⇄ past_due): the provider's current object decides, delivered in either order", async () => {
    for (const [first, second, truth] of [
      ["active", "past_due", "past_due"],
      ["past_due", "active", "active"],
      ["active", "past_due", "active"],
    ] as const) {
      const sub = await ours();
      fake.subscriptions.set(sub.providerSubscriptionId, sub.snapshot(truth));
      const asked = fake.requests.length;
      expect((await deliver("customer.subscription.updated", sub.snapshot("active"), T0)).outcome).toBe(
        "applied",
      );
      if (first === "past_due") {
        // Reach past_due first (a strictly later report), then the tie is between past_due and active.
        expect(
          (await deliver("customer.subscription.updated", sub.snapshot("past_due"), T0 + 1)).outcome,
        ).toBe("applied");
      }
      const tieAt = first === "past_due" ? T0 + 1 : T0;
      expect((await deliver("customer.subscription.updated", sub.snapshot(second), tieAt)).outcome).toBe(
        "applied_current",
      );
      expect((await rowOf(sub.row.id))?.status).toBe(truth);
      const fetches = fake.requests
        .slice(asked)
        .filter(
          (request) =>
            request.method === "GET" && request.path === `/v1/subscriptions/${sub.providerSubscriptionId}`,
        );
      expect(fetches).toHaveLength(1);
      expect(fetches[0]?.authorization).toBe("Bearer sk_test_subscription_state");
    }
  });

  it("a tie the provider cannot settle (it has no such subscription) leaves the state as it is", async () => {
    const sub = await ours();
    await deliver("customer.subscription.updated", sub.snapshot("active"), T0);
    expect((await deliver("customer.subscription.updated", sub.snapshot("past_due"), T0)).outcome).toBe(
      "same_time_undecided",
    );
    expect((await rowOf(sub.row.id))?.status).toBe("active");
  });

  it("every order of the first period's events (created, invoice.paid, updated) ends active with one grant", async () => {
    for (const order of permutations(["created", "paid", "updated"] as const)) {
      const sub = await ours();
      for (const step of order) {
        const delivered =
          step === "created"
            ? await deliver("customer.subscription.created", sub.snapshot("incomplete"), T0)
            : step === "paid"
              ? await deliver("invoice.paid", sub.paidInvoice(), T0 + 1)
              : await deliver("customer.subscription.updated", sub.snapshot("active"), T0 + 1);
        expect(delivered.status).toBe(200);
      }
      expect(await rowOf(sub.row.id)).toMatchObject({
        status: "active",
        providerSubscriptionId: sub.providerSubscriptionId,
        currentPeriodEnd: MARCH.end,
      });
      expect(await balanceOf(sub.userId)).toBe(1000);
      expect(await grantsOf(sub.userId)).toHaveLength(1);
    }
  });

  it("payment failures: recorded newer-only, harmless when repeated, lifted by the invoice's payment and ignored after it", async () => {
    const sub = await ours();
    await deliver("customer.subscription.updated", sub.snapshot("past_due"), T0);
    const open = sub.paidInvoice("open");
    expect((await deliver("invoice.payment_failed", open, T0 + 5)).outcome).toBe("recorded");
    expect((await deliver("invoice.payment_failed", open, T0 + 5)).outcome).toBe("recorded");
    // An older report (the first attempt's, delivered late) does not replace the newer one.
    expect((await deliver("invoice.payment_action_required", open, T0 + 2)).outcome).toBe("stale");
    expect(await rowOf(sub.row.id)).toMatchObject({
      paymentProblem: "payment_failed",
      paymentProblemInvoiceId: sub.invoiceId,
      paymentProblemAt: new Date((T0 + 5) * 1000),
    });
    expect(await balanceOf(sub.userId)).toBe(0);

    expect((await deliver("invoice.paid", sub.paidInvoice(), T0 + 9)).outcome).toBe("granted+problem_lifted");
    expect((await deliver("invoice.payment_failed", open, T0 + 7)).outcome).toBe("already_paid");
    expect((await deliver("invoice.payment_failed", sub.paidInvoice(), T0 + 9)).outcome).toBe("already_paid");
    expect(await rowOf(sub.row.id)).toMatchObject({ paymentProblem: null, paymentProblemInvoiceId: null });
    expect(await balanceOf(sub.userId)).toBe(1000);
  });

  it.runIf(kind === "postgres")(
    "ten failure reports racing the invoice's payment: granted once, and no problem left shown (PostgreSQL)",
    async () => {
      const sub = await ours();
      await deliver("customer.subscription.updated", sub.snapshot("past_due"), T0);
      const open = sub.paidInvoice("open");
      const deliveries = await Promise.all([
        ...Array.from({ length: 10 }, () => deliver("invoice.payment_failed", open, T0 + 5)),
        deliver("invoice.paid", sub.paidInvoice(), T0 + 9),
      ]);
      expect(deliveries.every((delivery) => delivery.status === 200)).toBe(true);
      expect(await rowOf(sub.row.id)).toMatchObject({ paymentProblem: null, paymentProblemInvoiceId: null });
      expect(await balanceOf(sub.userId)).toBe(1000);
      expect(await grantsOf(sub.userId)).toHaveLength(1);
    },
  );
});

import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { listTransactions } from "../../src/credits/list-transactions";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, creditPurchase, subscriptionPeriodGrant } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { APP_ORIGIN, appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { advancePost, transactionsGet, webhookPost } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  disputeObject,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";

describe.each(databaseKinds())("refunds and disputes of subscription invoices (%s)", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A new user subscribed to Pro (1,000 credits a month for $19) and paid with 4242, as the page does it. */
  async function subscribedToPro(planId = "pro-monthly") {
    const user = await signUp(`sub-refund-${randomUUID()}@example.test`);
    const { subscriptionId, paymentIntentId, paidStatus } = await subscribeAndPay(user, planId);
    expect(paidStatus).toBe(200);
    const [invoicePurchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    return { user, subscriptionId, paymentIntentId, invoicePurchase };
  }

  const account = async (userId: string) => {
    const { balance, debt } = await getBalance(database.db, userId);
    return { balance, debt };
  };

  const refund = (purchaseId: string, amount?: number) =>
    refundPurchase(
      database.db,
      sandbox,
      { purchaseId, reason: "customer asked", ...(amount !== undefined ? { amount } : {}) },
      admin,
    );

  /** POSTs one signed event to the webhook route, as Stripe does; returns the HTTP status. */
  async function deliver(type: string, object: Record<string, unknown>, created?: number): Promise<number> {
    const payload = stripeEventPayload(type, object, testId("evt"), created);
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
    return response.status;
  }

  it("a paid invoice is a purchase of its period's credits, for the invoice's amount, paid by its PaymentIntent", async () => {
    const { user, paymentIntentId, invoicePurchase } = await subscribedToPro();
    expect(invoicePurchase).toMatchObject({
      kind: "subscription_invoice",
      packageId: "pro-monthly",
      credits: 1000,
      creditsIssued: null,
      amount: 1900,
      currency: "usd",
      status: "succeeded",
      paymentIntentId,
      invoiceId: expect.stringMatching(/^in_/),
    });
    // The period's lot belongs to the purchase, so a refund takes from it first.
    const lots = await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id));
    expect(lots.filter((lot) => lot.purchaseId === invoicePurchase?.id).map((lot) => lot.credits)).toEqual([
      1000,
    ]);
  });

  it("a full refund takes the period's credits back, those already spent from the rest of the balance", async () => {
    const { user, invoicePurchase } = await subscribedToPro();
    // A package bought beside the plan: 500 credits that no subscription refund may touch.
    const pkg = await createCreditPurchase(database.db, sandbox, { userId: user.id, packageId: "standard" });
    await confirmSandboxPayment(database.db, {
      paymentIntentId: pkg.paymentIntentId,
      userId: user.id,
      cardNumber: CARD_OK,
      webhookSecret: webhookSigningSecret(),
    });
    // Spends take the soonest-expiring credits first: the period's (it ends in a month; the package's later).
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 300,
      description: "spent",
      idempotencyKey: randomUUID(),
    });
    expect(await account(user.id)).toEqual({ balance: 1200, debt: 0 });

    await refund(invoicePurchase!.id);

    // The 700 unspent come from the period's lot; the 300 already spent are taken from the other credits
    // the account holds (debt only where there are none), as for a refunded package.
    expect(await account(user.id)).toEqual({ balance: 200, debt: 0 });
    const [row] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, invoicePurchase!.id));
    expect(row).toMatchObject({ amountRefunded: 1900, clawedBackCredits: 1000 });
    const history = await listTransactions(database.db, { userId: user.id });
    expect(history.items[0]).toMatchObject({ type: "refund", description: "Refund of Pro plan invoice" });
  });

  it("the history names the plan and the period of each entry, so the page can word it in the reader's language", async () => {
    const { user, invoicePurchase } = await subscribedToPro();
    await refund(invoicePurchase!.id, 950);
    const { body } = await readJson<{ items: Record<string, unknown>[] }>(
      await transactionsGet(
        appRequest("/api/credits/transactions", { cookie: user.cookie }),
        routeContext({}),
      ),
    );
    const [refunded, granted] = body.items;
    expect(refunded).toMatchObject({ type: "refund", amount: -500, planId: "pro-monthly" });
    expect(refunded).not.toHaveProperty("packageId");
    expect(granted).toMatchObject({
      type: "subscription",
      amount: 1000,
      planId: "pro-monthly",
      periodStart: expect.any(String),
      periodEnd: expect.any(String),
    });
    const days =
      (Date.parse(String(granted?.periodEnd)) - Date.parse(String(granted?.periodStart))) / 86_400_000;
    expect(days).toBeGreaterThanOrEqual(28);
    expect(days).toBeLessThanOrEqual(31);
  });

  it("a partial refund takes the refunded share, rounded down, once however often its event arrives", async () => {
    const { user, invoicePurchase, paymentIntentId } = await subscribedToPro();
    await refund(invoicePurchase!.id, 950);
    expect(await account(user.id)).toEqual({ balance: 500, debt: 0 });
    // Stripe's charge.refunded again (a redelivery under a new event id): nothing more is taken.
    const charge = {
      id: testId("ch"),
      object: "charge",
      amount: 1900,
      amount_refunded: 950,
      currency: "usd",
      payment_intent: paymentIntentId,
      refunded: false,
      refunds: { object: "list", data: [], has_more: false },
    };
    expect(await deliver("charge.refunded", charge)).toBe(200);
    expect(await account(user.id)).toEqual({ balance: 500, debt: 0 });
    // Another 633: 1,583 of 1,900 refunded in all, floor(1000 × 1583 / 1900) = 833 taken in all.
    await refund(invoicePurchase!.id, 633);
    expect(await account(user.id)).toEqual({ balance: 167, debt: 0 });
  });

  it("a dispute withdraws the period's credits; won, they come back expiring with the period", async () => {
    const { user, paymentIntentId, invoicePurchase } = await subscribedToPro();
    const disputeId = testId("dp");
    const charge = testId("ch");
    const dispute = (status: string) =>
      disputeObject({
        id: disputeId,
        amount: 1900,
        currency: "usd",
        charge,
        payment_intent: paymentIntentId,
        status,
      });
    const now = Math.floor(Date.now() / 1000);
    expect(await deliver("charge.dispute.created", dispute("needs_response"), now)).toBe(200);
    expect(await account(user.id)).toEqual({ balance: 0, debt: 0 });
    const [history] = (await listTransactions(database.db, { userId: user.id })).items;
    expect(history).toMatchObject({ type: "dispute", description: "Payment disputed: Pro plan invoice" });

    expect(await deliver("charge.dispute.closed", dispute("won"), now + 1)).toBe(200);
    expect(await account(user.id)).toEqual({ balance: 1000, debt: 0 });
    const lots = await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id));
    const periodLot = lots.find((lot) => lot.source === "subscription");
    const returned = lots.find((lot) => lot.source === "dispute_reversal");
    expect(returned?.purchaseId).toBe(invoicePurchase!.id);
    expect(returned?.expiresAt?.getTime()).toBe(periodLot?.expiresAt?.getTime());
  });

  it("payment_intent.succeeded of a recorded invoice grants nothing, whenever it arrives", async () => {
    const { user, paymentIntentId, invoicePurchase } = await subscribedToPro();
    const before = await account(user.id);
    const status = await deliver(
      "payment_intent.succeeded",
      paymentIntentObject({
        id: paymentIntentId,
        amount: 1900,
        currency: "usd",
        metadata: { invoiceId: invoicePurchase!.invoiceId ?? "" },
      }),
    );
    expect(status).toBe(200);
    expect(await account(user.id)).toEqual(before);
    const purchases = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.userId, user.id));
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({ status: "succeeded", flaggedReason: null });
  });

  it("a renewal is a purchase of its own: refunding it takes that period's credits, not the first's", async () => {
    const { user, subscriptionId, invoicePurchase } = await subscribedToPro();
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 1000,
      description: "spent the first period",
      idempotencyKey: randomUUID(),
    });
    const advanced = await advancePost(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
      routeContext({ subscriptionId }),
    );
    expect(advanced.status).toBe(200);
    const purchases = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    const renewal = purchases.find((purchase) => purchase.id !== invoicePurchase!.id);
    expect(renewal).toMatchObject({ credits: 1000, amount: 1900 });
    expect(renewal?.invoiceId).not.toBe(invoicePurchase!.invoiceId);

    await refund(renewal!.id);

    // The renewal's 1,000 go; the first period's credits were spent and are not charged again as debt.
    expect(await account(user.id)).toEqual({ balance: 0, debt: 0 });
    const [first] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, invoicePurchase!.id));
    expect(first?.clawedBackCredits).toBe(0);
  });

  it("verify reports an invoice purchase whose credits differ from its grants", async () => {
    const { invoicePurchase } = await subscribedToPro();
    await database.db
      .update(creditPurchase)
      .set({ credits: 999 })
      .where(eq(creditPurchase.id, invoicePurchase!.id));
    try {
      const report = await verifyLedger(database.db);
      expect(report.violations).toContainEqual(
        expect.objectContaining({
          check: "invoice_purchase_credits",
          detail: expect.stringContaining(invoicePurchase!.id),
        }),
      );
    } finally {
      await database.db
        .update(creditPurchase)
        .set({ credits: 1000 })
        .where(eq(creditPurchase.id, invoicePurchase!.id));
    }
  });

  it("a yearly invoice: a partial refund takes its share of each slot as it arrives; a full one stops the rest", async () => {
    const { user, subscriptionId, invoicePurchase } = await subscribedToPro("pro-yearly");
    expect(invoicePurchase).toMatchObject({ credits: 12_000, creditsIssued: 1000, amount: 19_000 });
    const advance = async () => {
      const answer = await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      );
      expect(answer.status).toBe(200);
    };
    await advance();
    // Two slots issued (the first month's 1,000 ended with its month, the carry is capped at 1,000).
    const issued = async () =>
      (await database.db.select().from(creditPurchase).where(eq(creditPurchase.id, invoicePurchase!.id)))[0];
    expect((await issued())?.creditsIssued).toBe(2000);

    // A quarter of the year refunded: a quarter of the credits issued so far (floor(2000 × 4750 / 19000)).
    await refund(invoicePurchase!.id, 4750);
    expect(await issued()).toMatchObject({ clawedBackCredits: 500, creditsIssued: 2000 });
    // The next slot comes, and its quarter goes with it.
    await advance();
    expect(await issued()).toMatchObject({ clawedBackCredits: 750, creditsIssued: 3000 });

    // The rest refunded: every issued credit still in the account is taken back (those that expired
    // with their month left already; verify, after each test, checks the exact figure), and the months
    // to come are stopped: advancing grants nothing more.
    await refund(invoicePurchase!.id);
    const refunded = await issued();
    expect(refunded?.amountRefunded).toBe(19_000);
    expect(refunded?.clawedBackCredits).toBeGreaterThan(750);
    expect(await account(user.id)).toEqual({ balance: 0, debt: 0 });
    await advance();
    expect(await issued()).toMatchObject({ creditsIssued: 3000 });
    expect(await account(user.id)).toEqual({ balance: 0, debt: 0 });
    const slots = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(eq(subscriptionPeriodGrant.invoiceId, invoicePurchase!.invoiceId ?? ""));
    expect(slots.filter((slot) => slot.status === "stopped")).toHaveLength(1);
    expect(slots.filter((slot) => slot.status === "scheduled")).toHaveLength(8);
  });
});

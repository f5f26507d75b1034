import { randomUUID } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../src/credits/verify-ledger";
import {
  creditLot,
  creditPurchase,
  sandboxInvoice,
  sandboxSubscription,
  subscription,
  subscriptionPeriodGrant,
} from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { toStripeInvoice } from "../../src/payment/sandbox/sandbox-subscription-events";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import {
  advancePost,
  cardPut,
  confirmPost,
  plansGet,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
  transactionsGet,
  webhookPost,
} from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { deliverStripeEvent } from "../support/stripe-events";
import { CARD_OK } from "../support/subscriptions";
import { databaseKinds } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_DECLINED = "4000 0000 0000 0002";
const CARD_FAILS_LATER = "4000 0000 0000 0341";
const DAY = 86_400_000;

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  trialAvailable?: boolean;
};
type Started = {
  subscriptionId: string;
  paymentIntentId: string;
  trial: { days: number; credits: number } | null;
};

describe.each(databaseKinds())("trials: once per user ever, granted by the $0 invoice (%s)", (kind) => {
  const database = useAppDatabase(kind);

  const newUser = () => signUp(`trial-${randomUUID()}@example.test`);

  async function subscribe(user: SignedUpUser, planId = "max-monthly") {
    return readJson<Started>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
  }

  async function pay(user: SignedUpUser, paymentIntentId: string, cardNumber = CARD_OK) {
    return confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId }),
    );
  }

  async function advance(user: SignedUpUser, subscriptionId: string) {
    return readJson<{ subscription: Summary; invoice: { id: string; status: string } | null }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  }

  async function summaryOf(user: SignedUpUser) {
    return (
      await readJson<Summary | null>(
        await subscriptionGet(
          appRequest("/api/credits/subscription", { cookie: user.cookie }),
          routeContext({}),
        ),
      )
    ).body;
  }

  /** The user's subscription lots: [credits, remaining, expiresAt, category]. */
  async function planLots(userId: string) {
    const lots = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, userId), eq(creditLot.source, "subscription")))
      .orderBy(asc(creditLot.createdAt), asc(creditLot.grantEntryId));
    return lots.map((lot) => [lot.credits, lot.remaining, lot.expiresAt?.toISOString(), lot.category]);
  }

  const trialRows = (userId: string) =>
    database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, userId), eq(subscriptionPeriodGrant.kind, "trial")));

  /** A new user on a Max trial: subscribed and the card collected with 4242 (or `cardNumber`). */
  async function trialing(cardNumber = CARD_OK) {
    const user = await newUser();
    const started = await subscribe(user);
    expect(started.status).toBe(201);
    // The answer says what the pay dialog shows: a trial, nothing charged now.
    expect(started.body.trial).toEqual({ days: 7, credits: 500 });
    expect((await pay(user, started.body.paymentIntentId, cardNumber)).status).toBe(200);
    return { user, subscriptionId: started.body.subscriptionId };
  }

  /** The invoice.paid of a sandbox invoice as the sandbox sends it, delivered again under a new event id. */
  async function redeliverInvoicePaid(invoiceId: string) {
    const [invoice] = await database.db.select().from(sandboxInvoice).where(eq(sandboxInvoice.id, invoiceId));
    if (!invoice) throw new Error("no invoice");
    const [sub] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, invoice.subscriptionId));
    if (!sub) throw new Error("no subscription");
    const delivered = await deliverStripeEvent(
      webhookPost,
      webhookSigningSecret(),
      "invoice.paid",
      toStripeInvoice(invoice, sub, { withPayments: true }) as unknown as Record<string, unknown>,
    );
    return { status: delivered.status, body: { outcome: delivered.outcome } };
  }

  it("the catalog: Max monthly offers 7 days and 500 credits, the other plans no trial", async () => {
    const { body } = await readJson<{ plans: { id: string; trial: unknown }[] }>(
      await plansGet(appRequest("/api/credits/plans"), routeContext({})),
    );
    expect(Object.fromEntries(body.plans.map((plan) => [plan.id, plan.trial]))).toEqual({
      free: null,
      "pro-monthly": null,
      "pro-yearly": null,
      "max-monthly": { days: 7, credits: 500 },
    });
  });

  it("subscribing to Max: the card is collected for $0, trialing, 500 credits until the trial ends, no purchase", async () => {
    const { user, subscriptionId } = await trialing();
    const summary = await summaryOf(user);
    expect(summary).toMatchObject({ id: subscriptionId, planId: "max-monthly", status: "trialing" });
    const start = new Date(summary?.currentPeriodStart ?? 0).getTime();
    const end = new Date(summary?.currentPeriodEnd ?? 0).getTime();
    expect(end - start).toBe(7 * DAY);
    // Trial credits (not the plan's 5,000), promotional, expiring at the trial's end.
    expect(await planLots(user.id)).toEqual([[500, 500, new Date(end).toISOString(), "promotional"]]);
    const [ours] = await database.db.select().from(subscription).where(eq(subscription.id, subscriptionId));
    expect(ours?.trialOfferedDays).toBe(7);
    // The $0 invoice is no refundable purchase: there is no money and no PaymentIntent to refund.
    expect(await database.db.select().from(creditPurchase).where(eq(creditPurchase.userId, user.id))).toEqual(
      [],
    );
    expect(summary?.trialAvailable).toBe(false);
    // The history words it as a trial.
    const { body } = await readJson<{
      items: { type: string; description: string; periodKind: string | null }[];
    }>(
      await transactionsGet(
        appRequest("/api/credits/transactions", { cookie: user.cookie }),
        routeContext({}),
      ),
    );
    expect(body.items.find((item) => item.type === "subscription")).toMatchObject({
      description: expect.stringMatching(/^Max trial credits for /),
      periodKind: "trial",
    });
  });

  it("a new user may still have the trial: offered until the card is collected", async () => {
    const user = await newUser();
    expect(await summaryOf(user)).toBeNull();
    const started = await subscribe(user);
    expect(await summaryOf(user)).toMatchObject({ status: "incomplete", trialAvailable: true });
    const [ours] = await database.db
      .select()
      .from(subscription)
      .where(eq(subscription.id, started.body.subscriptionId));
    expect(ours?.trialOfferedDays).toBe(7);
  });

  it("the $0 invoice.paid replayed, under new event ids, concurrently and after the first real invoice: 500 once", async () => {
    const { user, subscriptionId } = await trialing();
    const [ours] = await database.db.select().from(subscription).where(eq(subscription.id, subscriptionId));
    const [sub] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.subscriptionRowId, subscriptionId));
    const trialInvoiceId = sub?.latestInvoiceId ?? "";
    expect(ours?.providerSubscriptionId).toBe(sub?.id);

    const replays = await Promise.all([
      redeliverInvoicePaid(trialInvoiceId),
      redeliverInvoicePaid(trialInvoiceId),
      redeliverInvoicePaid(trialInvoiceId),
    ]);
    for (const replay of replays)
      expect(replay).toMatchObject({ status: 200, body: { outcome: "trial_already_granted" } });

    // The trial ends: the first full-price invoice grants the first period; the late $0 invoice nothing.
    const advanced = await advance(user, subscriptionId);
    expect(advanced.body.invoice?.status).toBe("paid");
    expect((await redeliverInvoicePaid(trialInvoiceId)).body.outcome).toBe("trial_already_granted");
    expect(await trialRows(user.id)).toHaveLength(1);
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500, 5000]);
  });

  it("trial → advance: the first invoice is charged in full, active, 5,000 granted; the trial's credits expired and never carry", async () => {
    const { user, subscriptionId } = await trialing();
    const trial = await summaryOf(user);

    const { status, body } = await advance(user, subscriptionId);

    expect(status).toBe(200);
    expect(body.invoice).toEqual({ id: expect.stringMatching(/^in_sbx_/), status: "paid" });
    expect(body.subscription).toMatchObject({
      status: "active",
      currentPeriodStart: trial?.currentPeriodEnd,
    });
    const [invoice] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.id, body.invoice?.id ?? ""));
    expect(invoice).toMatchObject({ billingReason: "subscription_cycle", amountPaid: 4900 });
    const lots = await planLots(user.id);
    // The trial's 500 expired unused at the trial's end; nothing of them rolled into the first period.
    expect(lots).toEqual([
      [500, 0, trial?.currentPeriodEnd, "promotional"],
      [5000, 5000, body.subscription.currentPeriodEnd, "paid"],
    ]);
    const rollovers = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, user.id), eq(creditLot.source, "rollover")));
    expect(rollovers).toEqual([]);
    // The paid invoice is a purchase as any renewal is.
    const purchases = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.userId, user.id));
    expect(purchases.map((p) => [p.invoiceId, p.credits, p.amount])).toEqual([
      [body.invoice?.id, 5000, 4900],
    ]);
  });

  it("a card that fails at the trial's end: past_due, nothing granted; a new card and a retry grant the period", async () => {
    const { user, subscriptionId } = await trialing(CARD_FAILS_LATER);

    const { body } = await advance(user, subscriptionId);

    expect(body.invoice?.status).toBe("open");
    expect(body.subscription.status).toBe("past_due");
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500]);

    const card = await cardPut(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
        method: "PUT",
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ subscriptionId }),
    );
    expect(card.status).toBeLessThan(300);
    const summary = await summaryOf(user);
    if (summary?.status === "past_due") await advance(user, subscriptionId);
    expect((await summaryOf(user))?.status).toBe("active");
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500, 5000]);
  });

  it("a declined card when subscribing: nothing granted, no trial had; a good card then starts it", async () => {
    const user = await newUser();
    const started = await subscribe(user);
    expect((await pay(user, started.body.paymentIntentId, CARD_DECLINED)).status).toBe(402);
    expect(await trialRows(user.id)).toEqual([]);
    expect(await planLots(user.id)).toEqual([]);
    expect((await summaryOf(user))?.status).toBe("incomplete");
    // Paying the same subscription with a good card starts the trial.
    expect((await pay(user, started.body.paymentIntentId)).status).toBe(200);
    expect((await summaryOf(user))?.status).toBe("trialing");
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500]);
  });

  it("cancelled during the trial: the trial's credits stay until they expire, nothing is charged", async () => {
    const { user, subscriptionId } = await trialing();
    const trial = await summaryOf(user);
    const cancel = await subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      routeContext({}),
    );
    expect(cancel.status).toBe(200);
    expect(await planLots(user.id)).toEqual([[500, 500, trial?.currentPeriodEnd, "promotional"]]);

    const { body } = await advance(user, subscriptionId);
    expect(body.invoice).toBeNull();
    expect(body.subscription.status).toBe("canceled");
    const [sub] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.subscriptionRowId, subscriptionId));
    const invoices = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.subscriptionId, sub?.id ?? ""));
    expect(invoices.map((invoice) => invoice.amountPaid)).toEqual([0]);
    expect(await planLots(user.id)).toEqual([[500, 0, trial?.currentPeriodEnd, "promotional"]]);
  });

  it("a second subscription of the same user (after cancelling) gets no trial and pays at once", async () => {
    const { user, subscriptionId } = await trialing();
    await subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      routeContext({}),
    );
    await advance(user, subscriptionId);
    expect((await summaryOf(user))?.trialAvailable).toBe(false);

    const again = await subscribe(user);
    expect(again.status).toBe(201);
    const [second] = await database.db
      .select()
      .from(subscription)
      .where(eq(subscription.id, again.body.subscriptionId));
    expect(second?.trialOfferedDays).toBeNull();
    expect(again.body.trial).toBeNull();
    expect((await pay(user, again.body.paymentIntentId)).status).toBe(200);
    expect(await summaryOf(user)).toMatchObject({ id: again.body.subscriptionId, status: "active" });
    const [firstInvoice] = await database.db
      .select()
      .from(sandboxInvoice)
      .innerJoin(sandboxSubscription, eq(sandboxSubscription.latestInvoiceId, sandboxInvoice.id))
      .where(eq(sandboxSubscription.subscriptionRowId, again.body.subscriptionId));
    expect(firstInvoice?.sandbox_invoice).toMatchObject({
      billingReason: "subscription_create",
      amountPaid: 4900,
    });
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500, 5000]);
    expect(await trialRows(user.id)).toHaveLength(1);
  });

  it("concurrent subscribes of one user: one subscription, one trial offered, 500 granted once", async () => {
    const user = await newUser();
    const answers = await Promise.all([subscribe(user), subscribe(user), subscribe(user)]);
    const made = answers.filter((answer) => answer.status === 201);
    expect(made.length).toBeGreaterThan(0);
    expect(new Set(made.map((answer) => answer.body.subscriptionId)).size).toBe(1);
    await Promise.all(made.map((answer) => pay(user, answer.body.paymentIntentId)));
    const rows = await database.db.select().from(subscription).where(eq(subscription.userId, user.id));
    expect(rows.filter((row) => row.trialOfferedDays !== null)).toHaveLength(1);
    expect(await trialRows(user.id)).toHaveLength(1);
    expect((await planLots(user.id)).map(([credits]) => credits)).toEqual([500]);
  });

  it("verify flags a trial's credits that look bought (paid, or tied to a purchase): nothing of a trial is refundable", async () => {
    const { user } = await trialing();
    const [row] = await trialRows(user.id);
    if (!row?.lotId) throw new Error("no trial lot");
    await database.db.update(creditLot).set({ category: "paid" }).where(eq(creditLot.id, row.lotId));
    try {
      const report = await verifyLedger(database.db);
      expect(report.violations).toContainEqual(
        expect.objectContaining({ check: "trial_grant_not_purchase", userId: user.id }),
      );
    } finally {
      await database.db.update(creditLot).set({ category: "promotional" }).where(eq(creditLot.id, row.lotId));
    }
  });

  it("the database holds one trial grant per user even when two trial invoices arrive", async () => {
    const { user, subscriptionId } = await trialing();
    const [first] = await trialRows(user.id);
    if (!first) throw new Error("no trial row");
    // A second trial row for the user (another invoice) is refused by the unique index.
    await expect(
      database.db.insert(subscriptionPeriodGrant).values({
        ...first,
        invoiceId: "in_other",
        entryId: null,
        lotId: null,
      }),
    ).rejects.toThrow();
    expect(subscriptionId).toBeTruthy();
  });
});

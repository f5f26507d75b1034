import { randomUUID } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditLot,
  sandboxEventOutbox,
  sandboxPaymentIntent,
  sandboxSubscription,
  subscriptionPeriodGrant,
} from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { deliverOutboxEvent } from "../../src/payment/sandbox/deliver-sandbox-events";
import {
  APP_ORIGIN,
  appRequest,
  readJson,
  routeContext,
  type SignedUpUser,
  signUp,
} from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  balanceGet,
  cardPut,
  confirmPost,
  subscriptionGet,
  subscriptionsPost,
  webhookPost,
} from "../support/route-handlers";
import { entriesOf } from "../support/rows";
import { configureServerEnv } from "../support/server-env";
import { signPayload, testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";
const CARD_CHARGE_FAILS = "4000 0000 0000 0341";
const CARD_NEEDS_AUTH = "4000 0025 0000 3155";
const CARD_DECLINED = "4000 0000 0000 0002";

type Problem = { kind: string; invoiceId: string; at: string; actionUrl: string | null } | null;
type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  paymentProblem: Problem;
};
type Advanced = { subscription: Summary; invoice: { id: string; status: string } | null; clock: string };
type CardAnswer = {
  card?: { last4: string };
  retried?: { invoiceId: string; status: string };
  error?: { code: string };
};

describe.each(databaseKinds())("failed payments of a subscription in the sandbox (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 10 });
    useDatabaseConnection(database);
    resetAuth();
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const newUser = () => signUp(`failing-${randomUUID()}@example.test`);

  async function start(user: SignedUpUser, planId = "pro-monthly") {
    const { body } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
    return body;
  }

  async function pay(user: SignedUpUser, paymentIntentId: string, cardNumber: string) {
    return readJson<{ status: string; error?: { code?: string; declineCode?: string } }>(
      await confirmPost(
        appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
          cookie: user.cookie,
          json: { cardNumber },
        }),
        routeContext({ paymentIntentId }),
      ),
    );
  }

  /** A new user subscribed to Pro and paid with 4242: 1,000 credits for the first period. */
  async function subscribed() {
    const user = await newUser();
    const started = await start(user);
    expect((await pay(user, started.paymentIntentId, CARD_OK)).status).toBe(200);
    return { user, subscriptionId: started.subscriptionId };
  }

  async function advance(user: SignedUpUser, subscriptionId: string) {
    return readJson<Advanced>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  }

  async function setCard(user: SignedUpUser, subscriptionId: string, cardNumber: string) {
    return readJson<CardAnswer>(
      await cardPut(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
          method: "PUT",
          cookie: user.cookie,
          json: { cardNumber },
        }),
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

  async function balanceOf(user: SignedUpUser) {
    const { body } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    return body.balance;
  }

  const grantsOf = (userId: string) =>
    database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(eq(subscriptionPeriodGrant.userId, userId))
      .orderBy(asc(subscriptionPeriodGrant.periodStart));

  const sandboxOf = async (userId: string) =>
    (await database.db.select().from(sandboxSubscription).where(eq(sandboxSubscription.userId, userId)))[0];

  /** The outbox's events of a type for the user's sandbox subscription, oldest first. */
  async function outboxEvents(userId: string, type: string) {
    const sub = await sandboxOf(userId);
    return database.db
      .select()
      .from(sandboxEventOutbox)
      .where(and(eq(sandboxEventOutbox.subscriptionId, sub?.id ?? ""), eq(sandboxEventOutbox.type, type)))
      .orderBy(asc(sandboxEventOutbox.createdAt));
  }

  /** Posts an outbox event again under a new event id, as Stripe may send the same fact twice. */
  async function redeliverAsNewEvent(payload: string) {
    const event = JSON.parse(payload) as { id: string };
    const again = JSON.stringify({ ...event, id: testId("evt") });
    const response = await webhookPost(
      new Request(`${APP_ORIGIN}/api/webhooks/stripe`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "stripe-signature": signPayload(again, webhookSigningSecret()),
        },
        body: again,
      }),
    );
    return { status: response.status, body: (await response.json()) as { outcome?: string } };
  }

  it("rule 3: subscribing with 0341 fails the first payment, stays incomplete, grants nothing and keeps no card; 4242 then grants", async () => {
    const user = await newUser();
    const started = await start(user);

    expect(await pay(user, started.paymentIntentId, CARD_CHARGE_FAILS)).toMatchObject({
      status: 402,
      body: {
        status: "requires_payment_method",
        error: { code: "card_declined", declineCode: "generic_decline" },
      },
    });
    expect(await balanceOf(user)).toBe(0);
    expect(await entriesOf(database.db, user.id)).toEqual([]);
    expect(await grantsOf(user.id)).toEqual([]);
    expect(await summaryOf(user)).toMatchObject({
      status: "incomplete",
      paymentProblem: { kind: "payment_failed", actionUrl: null },
    });
    expect(await sandboxOf(user.id)).toMatchObject({ status: "incomplete", cardBehavior: null });

    expect((await pay(user, started.paymentIntentId, CARD_OK)).status).toBe(200);
    expect(await balanceOf(user)).toBe(1000);
    expect(await summaryOf(user)).toMatchObject({ status: "active", paymentProblem: null });
  });

  it("rule 3: subscribing with 3155 waits for authentication (402 requires_action), grants nothing; another card then pays", async () => {
    const user = await newUser();
    const started = await start(user, "max-monthly");

    expect(await pay(user, started.paymentIntentId, CARD_NEEDS_AUTH)).toMatchObject({
      status: 402,
      body: { status: "requires_action", error: { code: "authentication_required" } },
    });
    const [intent] = await database.db
      .select()
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.id, started.paymentIntentId));
    expect(intent?.status).toBe("requires_action");
    expect(await balanceOf(user)).toBe(0);
    expect(await grantsOf(user.id)).toEqual([]);
    expect(await summaryOf(user)).toMatchObject({
      status: "incomplete",
      paymentProblem: { kind: "action_required" },
    });

    // Max starts with its trial: the $0 first invoice collected the card and grants the trial's 500.
    expect((await pay(user, started.paymentIntentId, CARD_OK)).status).toBe(200);
    expect(await balanceOf(user)).toBe(500);
    expect(await summaryOf(user)).toMatchObject({ status: "trialing", paymentProblem: null });
  });

  it("rule 12: a renewal with 0341 on file fails: past_due, the user is told, nothing granted and nothing taken; a card change retries and grants that period once", async () => {
    const { user, subscriptionId } = await subscribed();
    // Credits that are not the subscription's: a gift for a year. Nothing a failed renewal does touches it.
    await addCredits(database.db, {
      userId: user.id,
      amount: 200,
      type: "grant",
      description: "Thanks for the feedback",
      idempotencyKey: `gift-${randomUUID()}`,
      expireDays: 365,
    });
    expect(await setCard(user, subscriptionId, CARD_CHARGE_FAILS)).toEqual({
      status: 200,
      body: { card: { last4: "0341" } },
    });
    const first = await summaryOf(user);
    const entriesBefore = await entriesOf(database.db, user.id);

    const failed = await advance(user, subscriptionId);
    expect(failed.status).toBe(200);
    expect(failed.body.invoice).toEqual({ id: expect.stringMatching(/^in_sbx_/), status: "open" });
    const failedInvoice = failed.body.invoice?.id ?? "";
    expect(failed.body.subscription).toMatchObject({
      status: "past_due",
      currentPeriodStart: first?.currentPeriodEnd,
      paymentProblem: { kind: "payment_failed", invoiceId: failedInvoice, actionUrl: null },
    });
    // Dated when the renewal failed on the subscription's clock (the boundary it moved to), not in real time.
    expect(failed.body.subscription.paymentProblem?.at).toBe(failed.body.clock);
    // Only the first period was granted. The only new entry is the first period's expiry at its own end
    // (its time came with the clock); the gift is whole.
    expect((await grantsOf(user.id)).map((grant) => grant.status)).toEqual(["granted"]);
    const newEntries = (await entriesOf(database.db, user.id)).slice(entriesBefore.length);
    expect(newEntries.map((entry) => entry.type)).toEqual(["expire"]);
    expect(newEntries[0]?.amount).toBe(-1000);
    const gift = (await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id))).find(
      (lot) => lot.source === "grant",
    );
    expect(gift).toMatchObject({ credits: 200, remaining: 200 });
    expect(await balanceOf(user)).toBe(200);

    // Stripe may send the failure twice, even under two event ids: nothing changes.
    const [failure] = await outboxEvents(user.id, "invoice.payment_failed");
    if (!failure) throw new Error("no invoice.payment_failed in the outbox");
    expect(await deliverOutboxEvent(database.db, webhookSigningSecret(), failure)).toMatchObject({
      outcome: "duplicate",
    });
    expect((await redeliverAsNewEvent(failure.payload)).body.outcome).toBe("recorded");
    expect(await balanceOf(user)).toBe(200);
    expect((await summaryOf(user))?.paymentProblem).toMatchObject({ invoiceId: failedInvoice });

    // Advancing a past-due subscription retries its open invoice with the same card: fails again, the clock stays.
    const retried = await advance(user, subscriptionId);
    expect(retried.body).toMatchObject({
      invoice: { id: failedInvoice, status: "open" },
      clock: failed.body.clock,
      subscription: { status: "past_due" },
    });
    expect(await balanceOf(user)).toBe(200);

    // A card that works: the open invoice is charged at once and its period granted before the answer,
    // with the first period's unspent 1,000 carried (capped at 1,000).
    expect(await setCard(user, subscriptionId, CARD_OK)).toEqual({
      status: 200,
      body: { card: { last4: "4242" }, retried: { invoiceId: failedInvoice, status: "paid" } },
    });
    expect(await summaryOf(user)).toMatchObject({ status: "active", paymentProblem: null });
    expect(await balanceOf(user)).toBe(200 + 1000 + 1000);
    const grants = await grantsOf(user.id);
    expect(grants.map((grant) => [grant.invoiceId === failedInvoice, grant.status, grant.credits])).toEqual([
      [false, "granted", 1000],
      [true, "granted", 1000],
    ]);
    expect(grants[1]?.periodEnd.toISOString()).toBe(failed.body.subscription.currentPeriodEnd);

    // The paid invoice's event again, and a late failure of it under a new id: granted once, no problem shown.
    const [paid] = (await outboxEvents(user.id, "invoice.paid")).slice(-1);
    if (!paid) throw new Error("no invoice.paid in the outbox");
    expect((await redeliverAsNewEvent(paid.payload)).body.outcome).toBe("already_granted");
    expect((await redeliverAsNewEvent(failure.payload)).body.outcome).toBe("already_paid");
    expect(await balanceOf(user)).toBe(2200);
    expect((await summaryOf(user))?.paymentProblem).toBeNull();

    // The next renewal charges the new card.
    const next = await advance(user, subscriptionId);
    expect(next.body.invoice?.status).toBe("paid");
    expect(next.body.subscription.status).toBe("active");
  });

  it("rule 12: a renewal with 3155 on file waits for authentication: past_due with action_required, nothing granted; 4242 recovers", async () => {
    const { user, subscriptionId } = await subscribed();
    expect((await setCard(user, subscriptionId, CARD_NEEDS_AUTH)).body.card).toEqual({ last4: "3155" });

    const waiting = await advance(user, subscriptionId);
    expect(waiting.body).toMatchObject({
      invoice: { status: "open" },
      subscription: {
        status: "past_due",
        paymentProblem: { kind: "action_required", invoiceId: waiting.body.invoice?.id, actionUrl: null },
      },
    });
    expect(await grantsOf(user.id)).toHaveLength(1);
    const [intent] = await database.db
      .select()
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.invoiceId, waiting.body.invoice?.id ?? ""));
    expect(intent?.status).toBe("requires_action");

    const recovered = await setCard(user, subscriptionId, CARD_OK);
    expect(recovered.body.retried).toEqual({ invoiceId: waiting.body.invoice?.id, status: "paid" });
    expect(await summaryOf(user)).toMatchObject({ status: "active", paymentProblem: null });
    expect(await grantsOf(user.id)).toHaveLength(2);
  });

  it("the card route: only the owner, only valid cards; a card declined outright keeps the old one", async () => {
    const { user, subscriptionId } = await subscribed();
    const stranger = await newUser();
    expect((await setCard(stranger, subscriptionId, CARD_OK)).status).toBe(404);
    expect((await setCard(user, randomUUID(), CARD_OK)).status).toBe(404);
    expect((await setCard(user, "not-an-id", CARD_OK)).status).toBe(404);
    expect(await setCard(user, subscriptionId, "4242 4242 4242 4241")).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_card" } },
    });
    expect(await setCard(user, subscriptionId, CARD_DECLINED)).toMatchObject({
      status: 402,
      body: { error: { code: "card_declined" } },
    });
    expect(await sandboxOf(user.id)).toMatchObject({ cardBehavior: "succeeds", cardLast4: "4242" });
    expect(
      (
        await cardPut(
          appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
            method: "PUT",
            json: { cardNumber: CARD_OK },
          }),
          routeContext({ subscriptionId }),
        )
      ).status,
    ).toBe(401);
    expect(await balanceOf(user)).toBe(1000);
  });

  it.runIf(kind === "postgres")(
    "a card change and an advance racing on a past-due subscription charge and grant its invoice once (PostgreSQL)",
    async () => {
      const { user, subscriptionId } = await subscribed();
      await setCard(user, subscriptionId, CARD_CHARGE_FAILS);
      const failed = await advance(user, subscriptionId);
      expect(failed.body.subscription.status).toBe("past_due");
      await database.db
        .update(sandboxSubscription)
        .set({ cardBehavior: "succeeds", cardLast4: "4242" })
        .where(eq(sandboxSubscription.userId, user.id));

      const answers = await Promise.all([
        setCard(user, subscriptionId, CARD_OK),
        setCard(user, subscriptionId, CARD_OK),
        advance(user, subscriptionId),
      ]);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
      // An advance that found the subscription still past due answers the owed invoice, paid, without
      // moving the clock; one that came after a card change had paid it renews the next period as usual.
      const advanced = answers[2]?.body as unknown as Advanced;
      if (advanced.invoice?.id === failed.body.invoice?.id) expect(advanced.clock).toBe(failed.body.clock);
      else expect(advanced.clock > failed.body.clock).toBe(true);
      expect(advanced.invoice?.status).toBe("paid");
      const grants = await grantsOf(user.id);
      expect(grants.filter((grant) => grant.invoiceId === failed.body.invoice?.id)).toHaveLength(1);
      expect(await summaryOf(user)).toMatchObject({ status: "active", paymentProblem: null });
      const [intent] = await database.db
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.invoiceId, failed.body.invoice?.id ?? ""));
      expect(intent?.status).toBe("succeeded");
      expect(
        (await outboxEvents(user.id, "payment_intent.succeeded")).filter((event) =>
          event.payload.includes(intent?.id ?? "-"),
        ),
      ).toHaveLength(1);
    },
  );
});

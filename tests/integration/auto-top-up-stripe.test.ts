import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAutoTopUps } from "../../src/auto-top-up/run-auto-top-ups";
import type { AutoTopUpView } from "../../src/auto-top-up/schemas";
import { findPackageOnSale } from "../../src/catalog/packages";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { autoTopUpAttempt, creditEntry } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import type { PaymentProvider } from "../../src/payment/types";
import createSetupIntentRoute from "../../src/routes/credits/create-auto-top-up-setup-intent";
import getAutoTopUpRoute from "../../src/routes/credits/get-auto-top-up";
import saveCardRoute from "../../src/routes/credits/save-auto-top-up-card";
import setAutoTopUpRoute from "../../src/routes/credits/set-auto-top-up";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, type SignedUpUser, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import type { OffSessionOutcome } from "../support/fake-stripe-off-session";
import { handlerOf, webhookPost } from "../support/route-handlers";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import { deliverStripeEvent } from "../support/stripe-events";
import { databaseKinds } from "../support/test-database";

// Stripe is the provider and its API the local stand-in (fake-stripe-off-session.ts); what Stripe sends
// comes back as events signed by the SDK through the real webhook route.
const WEBHOOK_SECRET = "whsec_test_auto_top_up";
let fake: FakeStripe;
let serverEnv: TestServerEnv;
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: "sk_test_auto_top_up",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_auto_top_up",
    STRIPE_API_BASE: fake.url,
    RATE_LIMIT_PURCHASES_PER_MINUTE: "1000",
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const getRoute = handlerOf(getAutoTopUpRoute);
const putRoute = handlerOf(setAutoTopUpRoute);
const setupRoute = handlerOf(createSetupIntentRoute);
const cardRoute = handlerOf(saveCardRoute);
const deliver = (type: string, object: Record<string, unknown>) =>
  deliverStripeEvent(webhookPost, WEBHOOK_SECRET, type, object);

const BASIC = findPackageOnSale("basic");
if (!BASIC) throw new Error("the catalog has no basic package");
const basic = BASIC;

async function view(user: SignedUpUser): Promise<AutoTopUpView> {
  return (
    await readJson<AutoTopUpView>(
      await getRoute(appRequest("/api/credits/auto-top-up", { cookie: user.cookie })),
    )
  ).body;
}

function grant(db: Database, userId: string, amount: number, key: string) {
  return addCredits(db, { userId, amount, type: "grant", description: "grant", idempotencyKey: key });
}

function spend(db: Database, userId: string, amount: number, key: string) {
  return db.transaction((tx) =>
    consumeCredits(tx, { userId, amount, description: "spend", idempotencyKey: key }),
  );
}

describe.each(databaseKinds())("auto top-up with Stripe (%s)", (kind) => {
  const database = useAppDatabase(kind);
  let counter = 0;
  const newUser = () => signUp(`topup-stripe-${kind}-${Date.now()}-${++counter}@example.test`, "Ada");
  const attemptsOf = (userId: string) =>
    database.db
      .select()
      .from(autoTopUpAttempt)
      .where(eq(autoTopUpAttempt.userId, userId))
      .orderBy(autoTopUpAttempt.createdAt);
  const grantsOf = (userId: string) =>
    database.db
      .select()
      .from(creditEntry)
      .where(and(eq(creditEntry.userId, userId), eq(creditEntry.type, "purchase")));
  const offSessionRequests = (attemptId: string) =>
    fake.requests.filter((request) => request.idempotencyKey === `auto-top-up:${attemptId}`);

  /** A card saved as on Stripe: a SetupIntent, the cardholder's confirmation, then Stripe's signed event. */
  async function saveCard(user: SignedUpUser, charges: OffSessionOutcome[]) {
    const started = await readJson<{ setupIntentId: string; clientSecret: string; publishableKey: string }>(
      await setupRoute(
        appRequest("/api/credits/auto-top-up/setup-intent", { cookie: user.cookie, method: "POST" }),
      ),
    );
    expect(started.status).toBe(201);
    expect(started.body.publishableKey).toBe("pk_test_auto_top_up");
    const created = fake.requests.findLast((request) => request.path === "/v1/setup_intents");
    expect(created?.form.get("usage")).toBe("off_session");
    expect(created?.form.get("metadata[userId]")).toBe(user.id);
    const succeeded = fake.offSession.confirmSetupIntent(started.body.setupIntentId, {
      last4: "4242",
      charges,
    });
    expect(await deliver("setup_intent.succeeded", succeeded)).toMatchObject({
      status: 200,
      outcome: "card_saved",
    });
    // The page's own report of the same SetupIntent changes nothing.
    const reported = await readJson<AutoTopUpView>(
      await cardRoute(
        appRequest("/api/credits/auto-top-up/card", {
          cookie: user.cookie,
          json: { setupIntentId: started.body.setupIntentId },
        }),
      ),
    );
    expect(reported.body.card).toEqual({ brand: "visa", last4: "4242" });
    const on = await readJson<AutoTopUpView>(
      await putRoute(
        appRequest("/api/credits/auto-top-up", {
          cookie: user.cookie,
          method: "PUT",
          json: {
            enabled: true,
            packageId: basic.id,
            thresholdCredits: 100,
            monthlyCapAmount: basic.price.amount * 10,
          },
        }),
      ),
    );
    expect(on.status).toBe(200);
  }

  /** Grants and spends so that the available balance crosses the threshold of 100 downwards once. */
  async function cross(userId: string, key: string) {
    const { balance } = await getBalance(database.db, userId);
    await grant(database.db, userId, 200 - balance, `g-${key}`);
    await spend(database.db, userId, 150, `s-${key}`);
  }

  it("a worker that dies after Stripe made the PaymentIntent is replaced without a second charge; the event grants once", async () => {
    const user = await newUser();
    await saveCard(user, ["succeeds"]);
    await cross(user.id, "1");
    const [attempt] = await attemptsOf(user.id);
    if (!attempt) throw new Error("no attempt was decided");
    const provider = getPaymentProvider(database.db);
    // The first worker gets Stripe's answer and dies before recording it.
    const dying: PaymentProvider = Object.create(provider);
    dying.chargeOffSession = async (request) => {
      await provider.chargeOffSession(request);
      throw new Error("worker died");
    };
    await runAutoTopUps(database.db, dying);
    expect((await attemptsOf(user.id))[0]?.status).toBe("processing");
    // Its lease runs out; the next worker charges again under the same key and gets the same PaymentIntent.
    await runAutoTopUps(database.db, provider, { now: new Date(Date.now() + 61_000) });
    const requests = offSessionRequests(attempt.id);
    expect(requests).toHaveLength(2);
    expect(requests.map((request) => request.form.get("metadata[autoTopUpAttemptId]"))).toEqual([
      attempt.id,
      attempt.id,
    ]);
    const intents = [...fake.offSession.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).autoTopUpAttemptId === attempt.id,
    );
    expect(intents).toHaveLength(1);
    const [settled] = await attemptsOf(user.id);
    expect(settled).toMatchObject({ status: "succeeded", paymentIntentId: intents[0]?.id });
    // Credits come only from Stripe's event, once however often it is delivered.
    expect(await grantsOf(user.id)).toHaveLength(0);
    const intent = intents[0] as Record<string, unknown>;
    expect((await deliver("payment_intent.succeeded", intent)).outcome).toBe("granted+auto_top_up:succeeded");
    expect((await deliver("payment_intent.succeeded", intent)).outcome).toBe(
      "already_granted+auto_top_up:succeeded",
    );
    expect(await grantsOf(user.id)).toHaveLength(1);
    expect((await getBalance(database.db, user.id)).balance).toBe(50 + basic.credits);
  });

  it("authentication_required waits for the cardholder; declines count, and a success in between resets the count", async () => {
    const user = await newUser();
    await saveCard(user, ["authentication_required", "declines", "declines", "succeeds", "declines"]);
    const provider = getPaymentProvider(database.db);
    await cross(user.id, "auth");
    await runAutoTopUps(database.db, provider);
    const waiting = await view(user);
    expect(waiting.status).toBe("action_required");
    expect(waiting.action?.clientSecret).toMatch(/_secret_/);
    // Stripe's payment_failed event for it changes nothing more; the cardholder pays on the page, and
    // Stripe's succeeded event grants and settles it.
    const authIntent = fake.offSession.paymentIntents.get(waiting.action?.paymentIntentId ?? "") as Record<
      string,
      unknown
    >;
    expect((await deliver("payment_intent.payment_failed", authIntent)).outcome).toBe(
      "marked_failed+auto_top_up:requires_action",
    );
    const paid = {
      ...authIntent,
      status: "succeeded",
      amount_received: authIntent.amount,
      last_payment_error: null,
    };
    expect((await deliver("payment_intent.succeeded", paid)).outcome).toBe("granted+auto_top_up:succeeded");
    expect((await view(user)).status).toBe("ok");

    for (const [round, expected] of [
      [1, 1],
      [2, 2],
      [3, 0],
      [4, 1],
    ] as const) {
      await cross(user.id, `r${round}`);
      await runAutoTopUps(database.db, provider);
      const current = await view(user);
      expect(current.consecutiveFailures).toBe(expected);
      expect(current.enabled).toBe(true);
      if (round === 3) {
        const [newest] = (await attemptsOf(user.id)).slice(-1);
        const intent = fake.offSession.paymentIntents.get(newest?.paymentIntentId ?? "");
        await deliver("payment_intent.succeeded", intent as Record<string, unknown>);
      }
    }
    expect((await view(user)).status).toBe("failed");
    expect(await grantsOf(user.id)).toHaveLength(2);
  });
});

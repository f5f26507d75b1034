import { describe, expect, it } from "vitest";
import { runAutoTopUps } from "../../src/auto-top-up/run-auto-top-ups";
import { getBalance } from "../../src/credits/get-balance";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import type { PaymentProvider } from "../../src/payment/types";
import { useAppDatabase } from "../support/app-database";
import { type SignedUpUser, signUp } from "../support/app-requests";
import {
  autoTopUpAttemptsOf,
  basicPackage,
  crossThreshold,
  purchaseGrantsOf,
  putAutoTopUp,
  reportSavedCard,
  startCardSetup,
  getAutoTopUpView as view,
} from "../support/auto-top-up";
import type { OffSessionOutcome } from "../support/fake-stripe-off-session";
import { setUpStripeApp } from "../support/stripe-app";
import { databaseKinds } from "../support/test-database";

// Stripe is the provider and its API the local stand-in (fake-stripe-off-session.ts); what Stripe sends
// comes back as events signed by the SDK through the real webhook route.
const stripe = setUpStripeApp("auto_top_up");
const deliver = stripe.deliver;

const basic = basicPackage();

describe.each(databaseKinds())("auto top-up with Stripe (%s)", (kind) => {
  const database = useAppDatabase(kind);
  let counter = 0;
  const newUser = () => signUp(`topup-stripe-${kind}-${Date.now()}-${++counter}@example.test`, "Ada");
  const attemptsOf = (userId: string) => autoTopUpAttemptsOf(database.db, userId);
  const grantsOf = (userId: string) => purchaseGrantsOf(database.db, userId);
  const cross = (userId: string, key: string) => crossThreshold(database.db, userId, key);
  const offSessionRequests = (attemptId: string) =>
    stripe.fake.requests.filter((request) => request.idempotencyKey === `auto-top-up:${attemptId}`);

  /** A card saved as on Stripe: a SetupIntent, the cardholder's confirmation, then Stripe's signed event. */
  async function saveCard(user: SignedUpUser, charges: OffSessionOutcome[]) {
    const started = await startCardSetup(user);
    expect(started.publishableKey).toBe("pk_test_auto_top_up");
    const created = stripe.fake.requests.findLast((request) => request.path === "/v1/setup_intents");
    expect(created?.form.get("usage")).toBe("off_session");
    expect(created?.form.get("metadata[userId]")).toBe(user.id);
    const succeeded = stripe.fake.offSession.confirmSetupIntent(started.setupIntentId, {
      last4: "4242",
      charges,
    });
    expect(await deliver("setup_intent.succeeded", succeeded)).toMatchObject({
      status: 200,
      outcome: "card_saved",
    });
    // The page's own report of the same SetupIntent changes nothing.
    const reported = await reportSavedCard(user, started.setupIntentId);
    expect(reported.body.card).toEqual({ brand: "visa", last4: "4242" });
    const on = await putAutoTopUp(user, {
      enabled: true,
      packageId: basic.id,
      thresholdCredits: 100,
      monthlyCapAmount: basic.price.amount * 10,
    });
    expect(on.status).toBe(200);
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
    const intents = [...stripe.fake.offSession.paymentIntents.values()].filter(
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
    const authIntent = stripe.fake.offSession.paymentIntents.get(
      waiting.action?.paymentIntentId ?? "",
    ) as Record<string, unknown>;
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
        const intent = stripe.fake.offSession.paymentIntents.get(newest?.paymentIntentId ?? "");
        await deliver("payment_intent.succeeded", intent as Record<string, unknown>);
      }
    }
    expect((await view(user)).status).toBe("failed");
    expect(await grantsOf(user.id)).toHaveLength(2);
  });
});

import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { AUTO_TOP_UP_MAX_TRIES, runAutoTopUps } from "../../src/auto-top-up/run-auto-top-ups";
import { getBalance } from "../../src/credits/get-balance";
import { creditPurchase, emailOutbox } from "../../src/db/schema";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { type PaymentProvider, PaymentProviderUnavailableError } from "../../src/payment/types";
import { useAppDatabase } from "../support/app-database";
import { type SignedUpUser, signUp } from "../support/app-requests";
import {
  autoTopUpAttemptsOf,
  basicPackage,
  crossThreshold,
  purchaseGrantsOf,
  putAutoTopUp,
  startCardSetup,
  getAutoTopUpView as view,
} from "../support/auto-top-up";
import type { OffSessionOutcome } from "../support/fake-stripe-off-session";
import { setUpStripeApp } from "../support/stripe-app";
import { chargeObject, disputeObject } from "../support/stripe-events";
import { databaseKinds } from "../support/test-database";

// Attacks on auto top-up with Stripe as the provider (the local stand-in) and its events signed by the SDK,
// replayed and reordered: whatever the order, one grant per PaymentIntent and one count per decline.
const stripe = setUpStripeApp("break_auto_top_up");
const deliver = stripe.deliver;

const basic = basicPackage();

describe.each(databaseKinds())("breaking auto top-up with Stripe (%s)", (kind) => {
  const database = useAppDatabase(kind);
  let counter = 0;
  const newUser = () => signUp(`break-stripe-${kind}-${Date.now()}-${++counter}@example.test`, "Mallory");
  const attemptsOf = (userId: string) => autoTopUpAttemptsOf(database.db, userId);
  const grantsOf = (userId: string) => purchaseGrantsOf(database.db, userId);
  const cross = (userId: string, key: string) => crossThreshold(database.db, userId, key);
  const intentOf = (attemptId: string) =>
    [...stripe.fake.offSession.paymentIntents.values()].find(
      (intent) => (intent.metadata as Record<string, string>).autoTopUpAttemptId === attemptId,
    ) as Record<string, unknown> | undefined;

  async function saveCardAndEnable(user: SignedUpUser, charges: OffSessionOutcome[]) {
    const started = await startCardSetup(user);
    const succeeded = stripe.fake.offSession.confirmSetupIntent(started.setupIntentId, {
      last4: "4242",
      charges,
    });
    expect((await deliver("setup_intent.succeeded", succeeded)).outcome).toBe("card_saved");
    const on = await putAutoTopUp(user, {
      enabled: true,
      packageId: basic.id,
      thresholdCredits: 100,
      monthlyCapAmount: basic.price.amount * 10,
    });
    expect(on.status).toBe(200);
  }

  it("payment_intent.succeeded before the worker recorded its PaymentIntent, replayed, then a stale payment_failed: granted once, settled once", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["succeeds"]);
    await cross(user.id, "1");
    const provider = getPaymentProvider(database.db);
    // Stripe's event overtakes the worker's answer (its request is slow to come back).
    const slow: PaymentProvider = Object.create(provider);
    slow.chargeOffSession = async (request) => {
      const charged = await provider.chargeOffSession(request);
      const intent = stripe.fake.offSession.paymentIntents.get(charged.paymentIntentId) as Record<
        string,
        unknown
      >;
      expect((await deliver("payment_intent.succeeded", intent)).outcome).toBe(
        "granted+auto_top_up:succeeded",
      );
      return charged;
    };
    await runAutoTopUps(database.db, slow);
    const [attempt] = await attemptsOf(user.id);
    expect(attempt?.status).toBe("succeeded");
    const intent = intentOf(attempt?.id ?? "") as Record<string, unknown>;
    expect(await deliver("payment_intent.succeeded", intent)).toMatchObject({ status: 200 });
    // A payment_failed for the same PaymentIntent arriving late (out of order) undoes nothing.
    await deliver("payment_intent.payment_failed", {
      ...intent,
      status: "requires_payment_method",
      last_payment_error: { code: "card_declined", decline_code: "generic_decline", message: "declined" },
    });
    expect((await attemptsOf(user.id))[0]?.status).toBe("succeeded");
    expect(await grantsOf(user.id)).toHaveLength(1);
    expect((await getBalance(database.db, user.id)).balance).toBe(50 + basic.credits);
    expect(
      await database.db.select().from(creditPurchase).where(eq(creditPurchase.userId, user.id)),
    ).toMatchObject([{ status: "succeeded", paymentIntentId: intent.id }]);
    expect(await view(user)).toMatchObject({ status: "ok", consecutiveFailures: 0 });
  });

  it("a decline whose event is delivered three times counts once and emails once", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["declines"]);
    await cross(user.id, "1");
    await runAutoTopUps(database.db, getPaymentProvider(database.db));
    const [attempt] = await attemptsOf(user.id);
    expect(attempt?.status).toBe("failed");
    const intent = intentOf(attempt?.id ?? "") as Record<string, unknown>;
    for (let i = 0; i < 3; i++) await deliver("payment_intent.payment_failed", intent);
    expect(await view(user)).toMatchObject({ enabled: true, consecutiveFailures: 1, status: "failed" });
    const mails = await database.db
      .select()
      .from(emailOutbox)
      .where(and(eq(emailOutbox.userId, user.id), eq(emailOutbox.kind, "auto_top_up_failed")));
    expect(mails).toHaveLength(1);
  });

  it("the payment_failed event before the worker's answer, then the answer: one decline counted", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["declines"]);
    await cross(user.id, "1");
    const provider = getPaymentProvider(database.db);
    const slow: PaymentProvider = Object.create(provider);
    slow.chargeOffSession = async (request) => {
      const charged = await provider.chargeOffSession(request);
      const intent = stripe.fake.offSession.paymentIntents.get(charged.paymentIntentId) as Record<
        string,
        unknown
      >;
      await deliver("payment_intent.payment_failed", intent);
      return charged;
    };
    await runAutoTopUps(database.db, slow);
    expect((await attemptsOf(user.id))[0]?.status).toBe("failed");
    expect((await view(user)).consecutiveFailures).toBe(1);
    expect(await grantsOf(user.id)).toHaveLength(0);
  });

  it("FINDING 6: refunding an auto top-up makes the app charge the card again at once", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["succeeds"]);
    await cross(user.id, "1");
    const provider = getPaymentProvider(database.db);
    await runAutoTopUps(database.db, provider);
    const [attempt] = await attemptsOf(user.id);
    const intent = intentOf(attempt?.id ?? "") as Record<string, unknown>;
    await deliver("payment_intent.succeeded", intent);
    expect((await getBalance(database.db, user.id)).balance).toBe(50 + basic.credits);
    // The customer asked for their money back (or the operator refunded it in the Dashboard): Stripe
    // reports the refund, the app claws the top-up's credits back...
    const refunded = await deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_for_${String(intent.id)}`,
        amount: basic.price.amount,
        currency: "usd",
        payment_intent: String(intent.id),
        amount_refunded: basic.price.amount,
      }),
    );
    expect(refunded.status).toBe(200);
    expect((await getBalance(database.db, user.id)).balance).toBe(50);
    // ...and that clawback must not read as "running low": the same card is not charged again for the
    // package that was just refunded (no spend of the user crossed the threshold).
    await runAutoTopUps(database.db, provider);
    expect(await attemptsOf(user.id)).toHaveLength(1);
    expect(
      [...stripe.fake.offSession.paymentIntents.values()].filter(
        (pi) => (pi.metadata as Record<string, string>).userId === user.id,
      ),
    ).toHaveLength(1);
  });

  it("a dispute of an auto top-up takes its credits back and charges the card nothing more", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["succeeds"]);
    await cross(user.id, "1");
    const provider = getPaymentProvider(database.db);
    await runAutoTopUps(database.db, provider);
    const [attempt] = await attemptsOf(user.id);
    const intent = intentOf(attempt?.id ?? "") as Record<string, unknown>;
    await deliver("payment_intent.succeeded", intent);
    expect((await getBalance(database.db, user.id)).balance).toBe(50 + basic.credits);
    // The cardholder disputes the charge: the funds are withdrawn and the credits taken back.
    const disputed = await deliver(
      "charge.dispute.funds_withdrawn",
      disputeObject({
        id: `dp_for_${String(intent.id)}`,
        amount: basic.price.amount,
        currency: "usd",
        charge: `ch_for_${String(intent.id)}`,
        payment_intent: String(intent.id),
        status: "needs_response",
      }),
    );
    expect(disputed.status).toBe(200);
    expect((await getBalance(database.db, user.id)).balance).toBe(50);
    await runAutoTopUps(database.db, provider);
    expect(await attemptsOf(user.id)).toHaveLength(1);
    expect(
      [...stripe.fake.offSession.paymentIntents.values()].filter(
        (pi) => (pi.metadata as Record<string, string>).userId === user.id,
      ),
    ).toHaveLength(1);
  });

  it("FINDING 7: a charge whose answers were lost is given up as failed, a second top-up is bought, and when Stripe's event arrives the monthly limit is passed", async () => {
    const user = await newUser();
    await saveCardAndEnable(user, ["succeeds"]);
    // The limit fits exactly one package this month.
    await putAutoTopUp(user, {
      enabled: true,
      packageId: basic.id,
      thresholdCredits: 100,
      monthlyCapAmount: basic.price.amount,
    });
    await cross(user.id, "1");
    const provider = getPaymentProvider(database.db);
    // Stripe makes the PaymentIntent, but every answer is lost on the way back (a timeout), and its
    // event is delayed (Stripe retries webhooks for days).
    const lossy: PaymentProvider = Object.create(provider);
    lossy.chargeOffSession = async (request) => {
      await provider.chargeOffSession(request);
      throw new PaymentProviderUnavailableError("The payment service is unavailable: socket hang up");
    };
    let clock = Date.now();
    for (let round = 0; round <= AUTO_TOP_UP_MAX_TRIES; round++) {
      clock += 3 * 3600_000;
      await runAutoTopUps(database.db, lossy, { now: new Date(clock) });
    }
    const [first] = await attemptsOf(user.id);
    // Stripe made the charge, so the attempt is never given up as failed: it stays in flight (or is
    // settled succeeded once the provider says so), counted against the limit.
    expect(first?.status).not.toBe("failed");
    // The stand-in lists no PaymentIntents, so the outcome stays unknown: in flight, and the page says so.
    expect(first?.status).toBe("processing");
    expect((await view(user)).status).toBe("waiting_for_provider");
    const firstIntent = intentOf(first?.id ?? "") as Record<string, unknown>;
    expect(firstIntent.status).toBe("succeeded");
    // The user keeps spending; the next crossing buys again, and that one goes through.
    await cross(user.id, "2");
    await runAutoTopUps(database.db, provider);
    for (const attempt of await attemptsOf(user.id)) {
      const intent = intentOf(attempt.id);
      if (intent) await deliver("payment_intent.succeeded", intent);
    }
    // The card was charged for the first attempt after all: the limit the user set must still hold.
    const paid = [...stripe.fake.offSession.paymentIntents.values()].filter(
      (intent) =>
        (intent.metadata as Record<string, string>).userId === user.id && intent.status === "succeeded",
    );
    const charged = paid.reduce((sum, intent) => sum + Number(intent.amount), 0);
    expect(charged).toBeLessThanOrEqual(basic.price.amount);
  });
});

import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAutoTopUps } from "../../src/auto-top-up/run-auto-top-ups";
import type { AutoTopUpView } from "../../src/auto-top-up/schemas";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { sandboxPaymentIntent } from "../../src/db/schema";
import { runEmailDelivery } from "../../src/email/deliver-email-outbox";
import { resetMailer } from "../../src/email/mailer";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { SANDBOX_TEST_CARDS } from "../../src/payment/sandbox/test-cards";
import removeCardRoute from "../../src/routes/credits/remove-auto-top-up-card";
import saveCardRoute from "../../src/routes/credits/save-auto-top-up-card";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, signUp } from "../support/app-requests";
import {
  autoTopUpAttemptsOf,
  basicPackage,
  confirmCardSetup as confirmSetup,
  getAutoTopUpView as getView,
  grantCredits as grant,
  purchaseGrantsOf as purchaseGrantsOfUser,
  purchasesOf as purchasesOfUser,
  putAutoTopUp as putJson,
  reportSavedCard as reportCard,
  saveTestCard as saveCard,
  spendCredits as spend,
  startCardSetup as startSetup,
} from "../support/auto-top-up";
import { confirmPost, handlerOf } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { type LocalSmtpServer, type ReceivedEmail, startSmtpServer } from "../support/smtp";
import { databaseKinds } from "../support/test-database";

const cardRoute = handlerOf(saveCardRoute);
const cardDeleteRoute = handlerOf(removeCardRoute);

const basic = basicPackage();

let smtp: LocalSmtpServer;
let cleanupEnv: () => void;
beforeAll(async () => {
  smtp = await startSmtpServer();
  cleanupEnv = configureServerEnv({
    SMTP_URL: smtp.url,
    EMAIL_FROM: "creditkit <no-reply@example.test>",
    RATE_LIMIT_PURCHASES_PER_MINUTE: "1000",
  }).cleanup;
  resetMailer();
});
afterAll(async () => {
  resetMailer();
  await smtp?.close();
  cleanupEnv?.();
});

function mailsTo(address: string): ReceivedEmail[] {
  return smtp.messages.filter(
    (message) => message.to.includes(address) && message.raw.includes("@creditkit.alerts>"),
  );
}

describe.each(databaseKinds())("auto top-up in the sandbox on %s", (kind) => {
  const database = useAppDatabase(kind, { poolSize: 25 });
  let counter = 0;
  const newUser = () => signUp(`topup-${kind}-${Date.now()}-${++counter}@example.test`, "Ada");
  const worker = () => runAutoTopUps(database.db, getPaymentProvider(database.db));

  const attemptsOf = (userId: string) => autoTopUpAttemptsOf(database.db, userId);
  const purchasesOf = (userId: string) => purchasesOfUser(database.db, userId);
  const purchaseGrantsOf = (userId: string) => purchaseGrantsOfUser(database.db, userId);
  const intentsOfAttempt = (attemptId: string) =>
    database.db
      .select()
      .from(sandboxPaymentIntent)
      .where(sql`${sandboxPaymentIntent.metadata} ->> 'autoTopUpAttemptId' = ${attemptId}`);
  const available = async (userId: string) => (await getBalance(database.db, userId)).balance;

  const settings = (overrides: Record<string, unknown> = {}) => ({
    enabled: true,
    packageId: basic.id,
    thresholdCredits: 100,
    monthlyCapAmount: basic.price.amount * 10,
    locale: "en",
    ...overrides,
  });

  it("turning it on needs a card, and the card comes only from a succeeded SetupIntent of this user", async () => {
    const user = await newUser();
    const other = await newUser();
    const refused = await putJson(user, settings());
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe("card_required");

    const { setupIntentId } = await startSetup(user);
    // Reported before it was confirmed: nothing to save.
    expect((await reportCard(user, setupIntentId)).body.error?.code).toBe("setup_incomplete");
    // Someone else cannot confirm it, nor record it as theirs.
    expect((await confirmSetup(other, setupIntentId, SANDBOX_TEST_CARDS.succeeds)).status).toBe(404);
    // A card Stripe would not save is declined, and nothing is saved.
    const declined = await confirmSetup(user, setupIntentId, SANDBOX_TEST_CARDS.insufficientFunds);
    expect(declined.status).toBe(402);
    expect((await getView(user)).card).toBeNull();

    expect((await confirmSetup(user, setupIntentId, SANDBOX_TEST_CARDS.succeeds)).status).toBe(200);
    expect((await reportCard(other, setupIntentId)).body.error?.code).toBe("setup_incomplete");
    expect((await getView(other)).card).toBeNull();
    // A client cannot name a payment method itself: unknown fields are refused.
    const forged = await readJson<{ error: { code: string } }>(
      await cardRoute(
        appRequest("/api/credits/auto-top-up/card", {
          cookie: user.cookie,
          json: { setupIntentId, paymentMethodId: "pm_forged" },
        }),
      ),
    );
    expect(forged.body.error.code).toBe("invalid_input");

    const saved = await reportCard(user, setupIntentId);
    expect(saved.status).toBe(200);
    expect(saved.body.card).toEqual({ brand: "visa", last4: "4242" });
    expect(saved.body.enabled).toBe(false);

    // The cap must fit one package; the package must exist.
    expect((await putJson(user, settings({ monthlyCapAmount: basic.price.amount - 1 }))).status).toBe(400);
    expect((await putJson(user, settings({ packageId: "nope" }))).body.error?.code).toBe(
      "package_unavailable",
    );
    expect((await putJson(user, settings({ thresholdCredits: 0 }))).status).toBe(400);
    const on = await putJson(user, settings());
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ enabled: true, status: "ok", thresholdCredits: 100 });

    // Removing the card turns it off.
    const removed = await readJson<AutoTopUpView>(
      await cardDeleteRoute(
        appRequest("/api/credits/auto-top-up/card", { cookie: user.cookie, method: "DELETE" }),
      ),
    );
    expect(removed.body).toMatchObject({ enabled: false, card: null, status: "off" });
  });

  it("concurrent spends across the threshold buy the package exactly once", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 200, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    // 20 spends of 10 at once take 200 to 0: exactly one of them crosses 100.
    await Promise.all(Array.from({ length: 20 }, (_, i) => spend(database.db, user.id, 10, `s${i}`)));
    // Retries of the same spends change nothing and decide nothing.
    await Promise.all(Array.from({ length: 20 }, (_, i) => spend(database.db, user.id, 10, `s${i}`)));
    expect(await attemptsOf(user.id)).toHaveLength(1);
    // Two workers at once, then another pass: one charge.
    await Promise.all([worker(), worker()]);
    await worker();
    const [attempt] = await attemptsOf(user.id);
    expect(attempt?.status).toBe("succeeded");
    expect(await intentsOfAttempt(attempt?.id ?? "")).toHaveLength(1);
    expect(await purchasesOf(user.id)).toMatchObject([{ status: "succeeded", packageId: basic.id }]);
    expect(await purchaseGrantsOf(user.id)).toHaveLength(1);
    expect(await available(user.id)).toBe(basic.credits);
    const view = await getView(user);
    expect(view).toMatchObject({ status: "ok", month: { spent: basic.price.amount } });
    expect(view.attempts[0]).toMatchObject({ status: "succeeded", amount: basic.price.amount });
  });

  it("enabling while already below the threshold tops up at once; the monthly cap stops the next one", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 30, "g");
    // The cap fits exactly one package a month.
    await putJson(user, settings({ monthlyCapAmount: basic.price.amount }));
    await worker();
    expect(await available(user.id)).toBe(30 + basic.credits);
    // Back across the threshold: the cap is used up, so nothing is bought and the page says why.
    await spend(database.db, user.id, 60, "a");
    await worker();
    expect(await attemptsOf(user.id)).toHaveLength(1);
    expect(await purchasesOf(user.id)).toHaveLength(1);
    expect(await getView(user)).toMatchObject({
      status: "cap_reached",
      month: { spent: basic.price.amount },
    });
    // Raising the cap lets the next crossing buy again.
    await putJson(user, settings({ monthlyCapAmount: basic.price.amount * 2 }));
    await grant(database.db, user.id, 100, "g2");
    await spend(database.db, user.id, 100, "b");
    await worker();
    expect(await purchaseGrantsOf(user.id)).toHaveLength(2);
  });

  it("a card that needs authentication waits for the cardholder: one email, completed on the page, granted once", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.alwaysAuthenticates);
    await grant(database.db, user.id, 150, "g");
    await putJson(user, settings());
    await spend(database.db, user.id, 60, "a");
    await worker();
    await worker();
    const view = await getView(user);
    expect(view.status).toBe("action_required");
    expect(view.action?.clientSecret).toBeTruthy();
    expect(await purchaseGrantsOf(user.id)).toHaveLength(0);
    // While it waits, no second top-up starts.
    await grant(database.db, user.id, 100, "g2");
    await spend(database.db, user.id, 100, "b");
    expect(await attemptsOf(user.id)).toHaveLength(1);

    await runEmailDelivery(database.db);
    await runEmailDelivery(database.db);
    const mails = mailsTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe("Confirm your credit top-up");
    expect(mails[0]?.text).toContain("/en/settings/credits?autoTopUp=");
    expect(mails[0]?.text).toContain("$9.99");

    // The page confirms the PaymentIntent with the sandbox's card form (on-session): paid and granted once.
    const paymentIntentId = view.action?.paymentIntentId ?? "";
    for (let i = 0; i < 2; i++) {
      const confirmed = await confirmPost(
        appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
          cookie: user.cookie,
          json: { cardNumber: SANDBOX_TEST_CARDS.succeeds },
        }),
      );
      expect(confirmed.status).toBe(200);
    }
    expect(await purchaseGrantsOf(user.id)).toHaveLength(1);
    expect(await getView(user)).toMatchObject({ status: "ok", action: null });
    expect((await attemptsOf(user.id))[0]?.status).toBe("succeeded");
  });

  it("declines are reported by email and on the page; the third in a row turns auto top-up off", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.chargeFails);
    await putJson(user, settings());
    for (let round = 1; round <= 3; round++) {
      await grant(database.db, user.id, 200, `g${round}`);
      await spend(database.db, user.id, 150, `s${round}`);
      await worker();
      const view = await getView(user);
      expect(view.consecutiveFailures).toBe(round);
      expect(view.status).toBe(round < 3 ? "failed" : "disabled");
      // Spent to zero, so the next round's grant and spend cross the threshold again.
      await spend(database.db, user.id, await available(user.id), `drain${round}`);
    }
    const view = await getView(user);
    expect(view).toMatchObject({ enabled: false, disabledReason: "three_failures", status: "disabled" });
    expect(await purchaseGrantsOf(user.id)).toHaveLength(0);
    await runEmailDelivery(database.db);
    const subjects = mailsTo(user.email).map((mail) => mail.subject);
    expect(subjects).toEqual([
      "Your credit top-up failed",
      "Your credit top-up failed",
      "Auto top-up is off: your card was declined three times",
    ]);
    // Off: the next crossing buys nothing.
    await grant(database.db, user.id, 200, "g4");
    await spend(database.db, user.id, 150, "s4");
    expect(await attemptsOf(user.id)).toHaveLength(3);
  });
  it("a spend that rolls back decides nothing; the next crossing decides once, emailed in the page's language", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.chargeFails);
    await grant(database.db, user.id, 150, "g");
    await putJson(user, settings({ locale: "zh" }));
    await database.db
      .transaction(async (tx) => {
        await consumeCredits(tx, {
          userId: user.id,
          amount: 100,
          description: "spend",
          idempotencyKey: "rolled",
        });
        throw new Error("the caller gives up");
      })
      .catch(() => undefined);
    expect(await attemptsOf(user.id)).toHaveLength(0);
    await spend(database.db, user.id, 100, "kept");
    expect(await attemptsOf(user.id)).toHaveLength(1);
    await worker();
    await runEmailDelivery(database.db);
    const [mail] = mailsTo(user.email);
    expect(mail?.subject).toBe("积分自动充值失败");
    expect(mail?.text).toContain("尾号 0341");
    expect(mail?.text).toContain("/zh/settings/credits?autoTopUp=");
  });
  it("a payment left waiting is canceled after a day; that ends the attempt, and the next crossing tops up again", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.alwaysAuthenticates);
    await grant(database.db, user.id, 150, "g");
    await putJson(user, settings());
    await spend(database.db, user.id, 100, "a");
    await worker();
    const waiting = await getView(user);
    expect(waiting.status).toBe("action_required");
    // What payment maintenance does to a purchase left unpaid for a day (abandon-stale-purchases.ts).
    await getPaymentProvider(database.db).cancelPaymentIntent(waiting.action?.paymentIntentId ?? "");
    expect((await attemptsOf(user.id))[0]).toMatchObject({
      status: "canceled",
      failureCode: "payment_canceled",
    });
    expect(await getView(user)).toMatchObject({ status: "ok", action: null });
    await grant(database.db, user.id, 100, "g2");
    await spend(database.db, user.id, 100, "b");
    expect(await attemptsOf(user.id)).toHaveLength(2);
    expect(await purchaseGrantsOf(user.id)).toHaveLength(0);
  });
});

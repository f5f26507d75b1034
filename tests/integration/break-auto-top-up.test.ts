import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTO_TOP_UP_MAX_TRIES, runAutoTopUps } from "../../src/auto-top-up/run-auto-top-ups";
import type { AutoTopUpView } from "../../src/auto-top-up/schemas";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { sandboxSetupIntent } from "../../src/db/schema";
import { runEmailDelivery } from "../../src/email/deliver-email-outbox";
import { resetMailer } from "../../src/email/mailer";
import { getPaymentProvider } from "../../src/payment/get-payment-provider";
import { SANDBOX_TEST_CARDS } from "../../src/payment/sandbox/test-cards";
import { type PaymentProvider, PaymentProviderUnavailableError } from "../../src/payment/types";
import getAutoTopUpRoute from "../../src/routes/credits/get-auto-top-up";
import removeCardRoute from "../../src/routes/credits/remove-auto-top-up-card";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, signUp } from "../support/app-requests";
import {
  autoTopUpAttemptsOf,
  basicPackage,
  getAutoTopUpView as getView,
  grantCredits as grant,
  purchaseGrantsOf as purchaseGrantsOfUser,
  purchasesOf as purchasesOfUser,
  putAutoTopUp as putJson,
  reportSavedCard as reportCard,
  saveTestCard as saveCard,
  spendCredits as spend,
} from "../support/auto-top-up";
import { confirmPost, handlerOf } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { type LocalSmtpServer, startSmtpServer } from "../support/smtp";
import { databaseKinds } from "../support/test-database";

// Attacks on auto top-up: what a careless operator or a hostile user can do to it. Each test states the
// behaviour a user is promised (README "Auto top-up"); those named FINDING fail against the code as it is.

const getRoute = handlerOf(getAutoTopUpRoute);
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

describe.each(databaseKinds())("breaking auto top-up on %s", (kind) => {
  const database = useAppDatabase(kind, { poolSize: 25 });
  let counter = 0;
  const newUser = () => signUp(`break-${kind}-${Date.now()}-${++counter}@example.test`, "Mallory");
  const worker = (now?: Date) =>
    runAutoTopUps(database.db, getPaymentProvider(database.db), now ? { now } : {});

  const attemptsOf = (userId: string) => autoTopUpAttemptsOf(database.db, userId);
  const purchasesOf = (userId: string) => purchasesOfUser(database.db, userId);
  const purchaseGrantsOf = (userId: string) => purchaseGrantsOfUser(database.db, userId);
  const available = async (userId: string) => (await getBalance(database.db, userId)).balance;

  const settings = (overrides: Record<string, unknown> = {}) => ({
    enabled: true,
    packageId: basic.id,
    thresholdCredits: 100,
    monthlyCapAmount: basic.price.amount * 10,
    locale: "en",
    ...overrides,
  });

  it("FINDING 1: a card the provider no longer has leaves the attempt processing forever, blocking every later top-up", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    // The operator removes the card at the provider (Stripe: the payment method detached in the
    // Dashboard; the sandbox: its saved card gone). The app still holds its id.
    await database.db.delete(sandboxSetupIntent).where(eq(sandboxSetupIntent.userId, user.id));
    await spend(database.db, user.id, 100, "cross");
    expect(await attemptsOf(user.id)).toHaveLength(1);
    // The worker runs on, hours apart (every lease long over), more times than the tries allowed.
    const start = Date.now();
    for (let round = 1; round <= AUTO_TOP_UP_MAX_TRIES + 4; round++)
      await worker(new Date(start + round * 3 * 3600_000));
    const [attempt] = await attemptsOf(user.id);
    // Promised: an attempt the provider cannot charge ends (failed) within AUTO_TOP_UP_MAX_TRIES tries,
    // is reported, and does not stay "in flight" holding back every later top-up.
    expect(attempt?.tries).toBeLessThanOrEqual(AUTO_TOP_UP_MAX_TRIES);
    expect(attempt?.status).toBe("failed");
    expect((await getView(user)).status).toBe("failed");
  });

  it("FINDING 2: re-saving a setting that is already on (changing only the email language) charges a card that was just declined again", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.chargeFails);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    await spend(database.db, user.id, 100, "cross");
    await worker();
    expect((await getView(user)).consecutiveFailures).toBe(1);
    // The user only switches the language of the emails twice; auto top-up was on all along. README:
    // "Turning it on while the balance is already below the threshold starts a top-up at once".
    expect((await putJson(user, settings({ locale: "zh" }))).status).toBe(200);
    await worker();
    expect((await putJson(user, settings({ locale: "en" }))).status).toBe(200);
    await worker();
    // Nothing crossed the threshold and nothing was turned on: no new charge, not 2 more declines that
    // turn auto top-up off.
    expect(await attemptsOf(user.id)).toHaveLength(1);
    expect(await getView(user)).toMatchObject({ enabled: true, consecutiveFailures: 1 });
  });

  it("FINDING 3: after raising the monthly limit the page still says the limit is reached for the rest of the month", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings({ monthlyCapAmount: basic.price.amount }))).status).toBe(200);
    await spend(database.db, user.id, 100, "a");
    await worker();
    await spend(database.db, user.id, await available(user.id), "drain");
    await grant(database.db, user.id, 150, "g2");
    await spend(database.db, user.id, 100, "b");
    expect((await getView(user)).status).toBe("cap_reached");
    // Room for three more packages now: the banner should go, the next crossing will buy.
    const raised = await putJson(user, settings({ monthlyCapAmount: basic.price.amount * 4 }));
    expect(raised.status).toBe(200);
    expect(raised.body.status).toBe("ok");
  });

  it("FINDING 4: an hour-long provider outage is reported as a declined card, and three outages turn auto top-up off", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    expect((await putJson(user, settings())).status).toBe(200);
    // The provider cannot be reached (Stripe down, a network partition): every charge times out.
    const provider = getPaymentProvider(database.db);
    const down: PaymentProvider = Object.create(provider);
    down.chargeOffSession = async () => {
      throw new PaymentProviderUnavailableError("The payment service is unavailable: connect ETIMEDOUT");
    };
    let clock = Date.now();
    for (let outage = 1; outage <= 3; outage++) {
      await grant(database.db, user.id, 200 - (await available(user.id)), `g${outage}`);
      await spend(database.db, user.id, 150, `s${outage}`);
      for (let round = 0; round < AUTO_TOP_UP_MAX_TRIES + 1; round++) {
        clock += 3 * 3600_000;
        await runAutoTopUps(database.db, down, { now: new Date(clock) });
      }
      expect((await attemptsOf(user.id))[outage - 1]).toMatchObject({
        status: "failed",
        failureCode: "provider_unavailable",
      });
    }
    // The card was never declined: the user is not told it was, and auto top-up is not turned off for it
    // (README: "the third decline in a row turns auto top-up off").
    const view = await getView(user);
    expect(view).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 0 });
    await runEmailDelivery(database.db);
    const texts = smtp.messages.filter((message) => message.to.includes(user.email));
    expect(texts.some((message) => /declined/i.test(`${message.subject} ${message.text}`))).toBe(false);
  });

  it("FINDING 5: after the package's price changes, a setting saved before silently never tops up again (the page says ok)", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    // The setting was saved when the package cost 1.00 less; a deploy has since changed its price
    // (the catalog is code: src/catalog/packages.ts). The setting keeps the price it was saved with.
    await database.db.execute(
      sql`UPDATE auto_top_up SET package_amount = ${basic.price.amount - 100} WHERE user_id = ${user.id}`,
    );
    await spend(database.db, user.id, 100, "cross");
    await worker();
    const [attempt] = await attemptsOf(user.id);
    const view = await getView(user);
    // Either it tops up (at the current price, within the limit), or the page tells the user it could
    // not; today the attempt is canceled (package_changed) and the page says "ok", at every crossing.
    const toppedUp = (await purchaseGrantsOf(user.id)).length === 1;
    expect(
      { toppedUp, told: view.status !== "ok" },
      `attempt ${attempt?.status} ${attempt?.failureCode}, page ${view.status}`,
    ).not.toEqual({ toppedUp: false, told: false });
  });

  it("a package whose new price no longer fits this month's limit charges nothing, and the page says why", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    // A limit of two packages at the new price; one top-up at the new price already made this month.
    expect((await putJson(user, settings({ monthlyCapAmount: basic.price.amount * 2 - 1 }))).status).toBe(
      200,
    );
    await spend(database.db, user.id, 100, "a");
    await worker();
    expect(await purchaseGrantsOf(user.id)).toHaveLength(1);
    await spend(database.db, user.id, await available(user.id), "drain");
    await grant(database.db, user.id, 150, "g2");
    // Saved when the package cost 1.00 less: the old price would fit, the new one does not.
    await database.db.execute(
      sql`UPDATE auto_top_up SET package_amount = ${basic.price.amount - 100} WHERE user_id = ${user.id}`,
    );
    await spend(database.db, user.id, 100, "b");
    await worker();
    expect((await attemptsOf(user.id))[1]).toMatchObject({ status: "canceled", failureCode: "cap_reached" });
    expect(await purchasesOf(user.id)).toHaveLength(1);
    expect(await getView(user)).toMatchObject({ enabled: true, status: "cap_reached" });
  });

  it("a package whose new price is above the monthly limit itself turns auto top-up off, charging nothing", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    // Saved when the package cost 1.00 less, with a limit of exactly that old price.
    await database.db.execute(
      sql`UPDATE auto_top_up SET package_amount = ${basic.price.amount - 100},
            monthly_cap_amount = ${basic.price.amount - 100} WHERE user_id = ${user.id}`,
    );
    await spend(database.db, user.id, 100, "cross");
    await worker();
    expect(await attemptsOf(user.id)).toMatchObject([
      { status: "canceled", failureCode: "price_above_limit" },
    ]);
    expect(await purchasesOf(user.id)).toHaveLength(0);
    expect(await getView(user)).toMatchObject({
      enabled: false,
      status: "disabled",
      disabledReason: "price_above_limit",
    });
  });

  it("a package taken off sale turns auto top-up off with a reason the page shows, charging nothing", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    expect((await putJson(user, settings())).status).toBe(200);
    // The setting names a package the catalog no longer sells (a deploy removed it).
    await database.db.execute(
      sql`UPDATE auto_top_up SET package_id = 'retired-package' WHERE user_id = ${user.id}`,
    );
    await spend(database.db, user.id, 100, "cross");
    await worker();
    expect(await attemptsOf(user.id)).toMatchObject([
      { status: "canceled", failureCode: "package_unavailable" },
    ]);
    expect(await purchasesOf(user.id)).toHaveLength(0);
    expect(await getView(user)).toMatchObject({
      enabled: false,
      status: "disabled",
      disabledReason: "package_unavailable",
    });
    // Off: the next crossing decides nothing.
    await grant(database.db, user.id, 100, "g2");
    await spend(database.db, user.id, 100, "cross2");
    expect(await attemptsOf(user.id)).toHaveLength(1);
  });

  it("another user cannot pay, or read, a top-up waiting for the cardholder", async () => {
    const victim = await newUser();
    const mallory = await newUser();
    await saveCard(victim, SANDBOX_TEST_CARDS.alwaysAuthenticates);
    await grant(database.db, victim.id, 150, "g");
    await putJson(victim, settings());
    await spend(database.db, victim.id, 100, "a");
    await worker();
    const waiting = await getView(victim);
    expect(waiting.status).toBe("action_required");
    expect((await getView(mallory)).action).toBeNull();
    const confirmed = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${waiting.action?.paymentIntentId}/confirm`, {
        cookie: mallory.cookie,
        json: { cardNumber: SANDBOX_TEST_CARDS.succeeds },
      }),
    );
    expect(confirmed.status).toBe(404);
    expect(await purchaseGrantsOf(victim.id)).toHaveLength(0);
    expect(await purchaseGrantsOf(mallory.id)).toHaveLength(0);
    expect((await getView(victim)).status).toBe("action_required");
  });

  it("holds and spends racing across the threshold (20 at once) decide one top-up, granted once", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 400, "g");
    expect((await putJson(user, settings({ thresholdCredits: 200 }))).status).toBe(200);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 2 === 0
          ? spend(database.db, user.id, 15, `s${i}`)
          : createHold(database.db, {
              userId: user.id,
              amount: 15,
              description: "hold",
              idempotencyKey: `h${i}`,
            }),
      ),
    );
    expect(await attemptsOf(user.id)).toHaveLength(1);
    await Promise.all([worker(), worker(), worker()]);
    expect(await purchasesOf(user.id)).toHaveLength(1);
    expect(await purchaseGrantsOf(user.id)).toHaveLength(1);
    expect((await attemptsOf(user.id))[0]?.status).toBe("succeeded");
  });

  it("odd PUT bodies and no session are refused, and change nothing", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    const bad: Record<string, unknown>[] = [
      { thresholdCredits: -5 },
      { thresholdCredits: 1.5 },
      { thresholdCredits: "100" },
      { thresholdCredits: 1e12 },
      { monthlyCapAmount: -1 },
      { monthlyCapAmount: 0 },
      { monthlyCapAmount: basic.price.amount + 0.5 },
      { monthlyCapAmount: 2 ** 31 },
      { monthlyCapAmount: basic.price.amount - 1 },
      { enabled: "yes" },
      { packageId: "" },
      { packageId: "enterprise-secret" },
      { locale: "fr" },
      { paymentMethodId: "pm_someone_else" },
      { userId: "someone-else" },
    ];
    for (const override of bad) {
      const answer = await putJson(user, settings(override));
      expect(answer.status, JSON.stringify(override)).toBe(400);
    }
    expect((await putJson(null, settings())).status).toBe(401);
    expect((await getView(user)).enabled).toBe(false);
    expect((await readJson(await getRoute(appRequest("/api/credits/auto-top-up", {})))).status).toBe(401);
  });

  it("another user's SetupIntent cannot be confirmed, recorded or charged; a removed card is not brought back by replaying its SetupIntent", async () => {
    const victim = await newUser();
    const mallory = await newUser();
    const victimSetup = await saveCard(victim, SANDBOX_TEST_CARDS.succeeds);
    // Mallory reports the victim's succeeded SetupIntent as hers: refused.
    expect((await reportCard(mallory, victimSetup)).status).toBe(409);
    expect((await getView(mallory)).card).toBeNull();
    expect((await putJson(mallory, settings())).status).toBe(409);
    // The victim removes the card; replaying the same SetupIntent does not bring it back.
    const removed = await readJson<AutoTopUpView>(
      await cardDeleteRoute(
        appRequest("/api/credits/auto-top-up/card", { cookie: victim.cookie, method: "DELETE" }),
      ),
    );
    expect(removed.body.card).toBeNull();
    await reportCard(victim, victimSetup);
    expect((await getView(victim)).card).toBeNull();
    expect((await putJson(victim, settings())).status).toBe(409);
  });

  it("removing the card between the crossing and the worker charges nothing", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await grant(database.db, user.id, 150, "g");
    await putJson(user, settings());
    await spend(database.db, user.id, 100, "a");
    await cardDeleteRoute(
      appRequest("/api/credits/auto-top-up/card", { cookie: user.cookie, method: "DELETE" }),
    );
    await worker();
    expect(await purchasesOf(user.id)).toHaveLength(0);
    expect((await attemptsOf(user.id))[0]).toMatchObject({ status: "canceled", failureCode: "card_removed" });
    expect(await available(user.id)).toBe(50);
  });

  it("the monthly limit exactly fits two packages: the third crossing buys nothing", async () => {
    const user = await newUser();
    await saveCard(user, SANDBOX_TEST_CARDS.succeeds);
    await putJson(user, settings({ monthlyCapAmount: basic.price.amount * 2 }));
    for (let round = 1; round <= 3; round++) {
      await grant(database.db, user.id, 150, `g${round}`);
      await spend(database.db, user.id, 100, `s${round}`);
      await worker();
      await spend(database.db, user.id, await available(user.id), `drain${round}`);
    }
    expect(await purchaseGrantsOf(user.id)).toHaveLength(2);
    const view = await getView(user);
    expect(view.month).toEqual({ spent: basic.price.amount * 2, cap: basic.price.amount * 2 });
    expect(view.status).toBe("cap_reached");
    const spent = await database.db.execute(
      sql`SELECT coalesce(sum(amount), 0)::int AS total FROM credit_purchase WHERE user_id = ${user.id} AND status = 'succeeded'`,
    );
    expect((spent as unknown as { rows: { total: number }[] }).rows[0]?.total).toBe(basic.price.amount * 2);
  });
});

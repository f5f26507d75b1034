import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createCreditPaymentIntent } from "../../src/actions/credits";
import { resetAuth } from "../../src/auth/session";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { subscription } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { createStripeClient } from "../../src/payment/stripe/stripe-client";
import { StripePaymentProvider } from "../../src/payment/stripe/stripe-provider";
import { PaymentProviderUnavailableError } from "../../src/payment/types";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { type FakeStripe, startFakeStripe } from "../support/fake-stripe";
import { assertLedgerInvariants } from "../support/invariants";
import { closedPort } from "../support/net";
import {
  advancePost,
  balanceGet,
  confirmPost,
  purchasesPost,
  subscriptionsPost,
  webhookPost,
} from "../support/route-handlers";
import { entriesOf, purchaseRow, purchasesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv, type TestServerEnv } from "../support/server-env";
import { paymentIntentObject, signPayload, stripeEventPayload } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const SECRET_KEY = "sk_test_123";
const WEBHOOK_SECRET = "whsec_test_stripe_provider_suite";
const PUBLISHABLE_KEY = "pk_test_stripe_provider_suite";

// The server action reads the request's headers through next/headers; outside Next.js the test supplies them.
const actionRequest = vi.hoisted(() => ({ headers: new Headers() }));
vi.mock("next/headers", () => ({ headers: async () => actionRequest.headers }));

let fake: FakeStripe;
let serverEnv: TestServerEnv;

// One fake Stripe for the file: getServerEnv() caches STRIPE_API_BASE on its first call in this module context.
beforeAll(async () => {
  fake = await startFakeStripe();
  serverEnv = configureServerEnv({
    STRIPE_SECRET_KEY: SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
    STRIPE_API_BASE: fake.url,
  });
});
afterAll(async () => {
  await fake?.close();
  serverEnv?.cleanup();
});

const noParams = routeContext({});

describe.each(databaseKinds())("Stripe payment provider on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  // `verify` after every test: a test can pass and still leave the ledger inconsistent.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    fake?.setMode("ok");
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  function requestsFor(purchaseId: string) {
    return fake.requests.filter((request) => request.form.get("metadata[purchaseId]") === purchaseId);
  }

  /** A failed attempt must leave the purchase failed and the customer without credits. */
  async function expectFailedWithoutCredits(userId: string) {
    const [purchase, ...others] = await purchasesOf(database.db, userId);
    expect(others).toEqual([]);
    expect(purchase).toMatchObject({
      status: "failed",
      failureCode: "provider_unavailable",
      grantEntryId: null,
    });
    expect(await entriesOf(database.db, userId)).toEqual([]);
    expect((await getBalance(database.db, userId)).balance).toBe(0);
  }

  it("creates the PaymentIntent with the package's price, the purchase metadata and a purchase-derived idempotency key", async () => {
    fake.setMode("ok");
    const userId = await seedUser(database.db);
    const provider = new StripePaymentProvider(createStripeClient(SECRET_KEY, fake.url));

    const created = await createCreditPurchase(database.db, provider, { userId, packageId: "premium" });

    const [sent, ...more] = requestsFor(created.purchaseId);
    expect(more).toEqual([]);
    expect(sent).toMatchObject({
      method: "POST",
      path: "/v1/payment_intents",
      authorization: `Bearer ${SECRET_KEY}`,
    });
    expect(Object.fromEntries(sent?.form ?? [])).toMatchObject({
      amount: "7999",
      currency: "usd",
      "automatic_payment_methods[enabled]": "true",
      "metadata[purchaseId]": created.purchaseId,
      "metadata[userId]": userId,
      "metadata[packageId]": "premium",
    });
    expect(sent?.form.get("description")).toContain("1200 credits");
    expect(sent?.idempotencyKey).toContain(created.purchaseId);

    expect(created).toEqual({
      purchaseId: created.purchaseId,
      paymentIntentId: expect.stringMatching(/^pi_fake_/),
      clientSecret: `${created.paymentIntentId}_secret_fake`,
      provider: "stripe",
    });
    expect(await purchaseRow(database.db, created.purchaseId)).toMatchObject({
      provider: "stripe",
      status: "pending",
      paymentIntentId: created.paymentIntentId,
      credits: 1200,
      amount: 7999,
      currency: "usd",
    });
  });

  it("marks the purchase failed and grants nothing when Stripe answers 500, retrying with the same idempotency key", async () => {
    fake.setMode("error");
    const userId = await seedUser(database.db);
    const provider = new StripePaymentProvider(createStripeClient(SECRET_KEY, fake.url));

    await expect(
      createCreditPurchase(database.db, provider, { userId, packageId: "basic" }),
    ).rejects.toBeInstanceOf(PaymentProviderUnavailableError);

    await expectFailedWithoutCredits(userId);
    const [purchase] = await purchasesOf(database.db, userId);
    const attempts = requestsFor(purchase?.id ?? "");
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((a) => a.idempotencyKey)).size).toBe(1);
  });

  it("marks the purchase failed and grants nothing when Stripe does not answer in time", async () => {
    fake.setMode("hang");
    const userId = await seedUser(database.db);
    // createStripeClient waits 15 s; the same SDK with a short timeout shows the same path in a fraction of that.
    const impatient = new Stripe(SECRET_KEY, {
      host: "127.0.0.1",
      port: fake.port,
      protocol: "http",
      timeout: 300,
      maxNetworkRetries: 0,
    });
    const started = Date.now();

    await expect(
      createCreditPurchase(database.db, new StripePaymentProvider(impatient), { userId, packageId: "basic" }),
    ).rejects.toBeInstanceOf(PaymentProviderUnavailableError);

    expect(Date.now() - started).toBeLessThan(5_000);
    await expectFailedWithoutCredits(userId);
  });

  it("marks the purchase failed and grants nothing when nothing listens at the Stripe address", async () => {
    const userId = await seedUser(database.db);
    const provider = new StripePaymentProvider(
      createStripeClient(SECRET_KEY, `http://127.0.0.1:${await closedPort()}`),
    );

    await expect(
      createCreditPurchase(database.db, provider, { userId, packageId: "basic" }),
    ).rejects.toBeInstanceOf(PaymentProviderUnavailableError);

    await expectFailedWithoutCredits(userId);
  });

  describe("through the API with Stripe configured", () => {
    it("starts a Stripe purchase, credits it from a webhook signed with the Stripe secret, and hides the sandbox", async () => {
      fake.setMode("ok");
      const customer = await signUp(`stripe-${randomUUID()}@example.test`);

      const { status, body } = await readJson<{
        purchaseId: string;
        paymentIntentId: string;
        provider: string;
        publishableKey: string | null;
      }>(
        await purchasesPost(
          appRequest("/api/credits/purchases", { cookie: customer.cookie, json: { packageId: "standard" } }),
          noParams,
        ),
      );
      expect(status).toBe(201);
      // Everything Stripe.js needs comes with the answer: the client secret and the publishable key.
      expect(body).toMatchObject({
        provider: "stripe",
        paymentIntentId: expect.stringMatching(/^pi_fake_/),
        clientSecret: expect.any(String),
        publishableKey: PUBLISHABLE_KEY,
      });
      expect(requestsFor(body.purchaseId)).toHaveLength(1);

      // With Stripe keys set, the offline sandbox must not be able to mark anything paid.
      const sandbox = await confirmPost(
        appRequest(`/api/sandbox/payment-intents/${body.paymentIntentId}/confirm`, {
          cookie: customer.cookie,
          json: { cardNumber: "4242424242424242" },
        }),
        routeContext({ paymentIntentId: body.paymentIntentId }),
      );
      expect(sandbox.status).toBe(404);

      const payload = stripeEventPayload(
        "payment_intent.succeeded",
        paymentIntentObject({
          id: body.paymentIntentId,
          amount: 3999,
          currency: "usd",
          metadata: { purchaseId: body.purchaseId, userId: customer.id, packageId: "standard" },
        }),
      );
      const deliver = (signature: string) =>
        webhookPost(
          new Request("http://localhost:3000/api/webhooks/stripe", {
            method: "POST",
            headers: { "content-type": "application/json", "stripe-signature": signature },
            body: payload,
          }),
        );
      // Signed with anything but STRIPE_WEBHOOK_SECRET it is refused; signed with it, it credits the purchase.
      expect((await deliver(signPayload(payload, "whsec_some_other_secret"))).status).toBe(400);
      expect(await readJson(await deliver(signPayload(payload, WEBHOOK_SECRET)))).toEqual({
        status: 200,
        body: { received: true, outcome: "granted" },
      });

      const balance = await readJson<{ balance: number }>(
        await balanceGet(appRequest("/api/credits/balance", { cookie: customer.cookie }), noParams),
      );
      expect(balance).toMatchObject({ status: 200, body: { balance: 500 } });
      expect((await purchaseRow(database.db, body.purchaseId)).status).toBe("succeeded");
    });

    it("subscribing with Stripe answers a Checkout URL and grants nothing; the sandbox's clock is not there", async () => {
      fake.setMode("ok");
      const customer = await signUp(`stripe-subscribe-${randomUUID()}@example.test`);
      const refused = await readJson<{ error: { code: string } }>(
        await subscriptionsPost(
          appRequest("/api/credits/subscriptions", {
            cookie: customer.cookie,
            json: { planId: "pro-monthly" },
          }),
          noParams,
        ),
      );
      expect(refused).toMatchObject({ status: 201, body: { provider: "stripe" } });
      expect(refused.body).toHaveProperty("checkoutUrl");
      expect(
        await database.db.select().from(subscription).where(eq(subscription.userId, customer.id)),
      ).toMatchObject([{ status: "checkout", provider: "stripe" }]);
      expect((await getBalance(database.db, customer.id)).balance).toBe(0);
      const subscriptionId = randomUUID();
      const advance = await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, {
          cookie: customer.cookie,
          json: {},
        }),
        routeContext({ subscriptionId }),
      );
      expect(advance.status).toBe(404);
    });

    it("answers 502 with a retryable payment_provider_unavailable error when Stripe fails", async () => {
      fake.setMode("error");
      const customer = await signUp(`stripe-down-${randomUUID()}@example.test`);

      const { status, body } = await readJson<{
        error: { code: string; message: string; retryable?: boolean };
      }>(
        await purchasesPost(
          appRequest("/api/credits/purchases", { cookie: customer.cookie, json: { packageId: "standard" } }),
          noParams,
        ),
      );

      expect(status).toBe(502);
      expect(body.error).toMatchObject({ code: "payment_provider_unavailable", retryable: true });
      expect(body.error.message).not.toContain(SECRET_KEY);
      await expectFailedWithoutCredits(customer.id);
    });

    it("answers the server action createCreditPaymentIntent as the route: the key, and the same 502 error", async () => {
      const customer = await signUp(`stripe-action-${randomUUID()}@example.test`);
      actionRequest.headers = new Headers({ cookie: customer.cookie });

      fake.setMode("ok");
      const started = await createCreditPaymentIntent({ packageId: "basic" });
      expect(started.data).toMatchObject({
        provider: "stripe",
        paymentIntentId: expect.stringMatching(/^pi_fake_/),
        publishableKey: PUBLISHABLE_KEY,
      });
      expect(requestsFor(started.data?.purchaseId ?? "")).toHaveLength(1);

      fake.setMode("error");
      const failed = await createCreditPaymentIntent({ packageId: "basic" });
      const route = await readJson<{ error: { code: string; message: string; retryable?: boolean } }>(
        await purchasesPost(
          appRequest("/api/credits/purchases", { cookie: customer.cookie, json: { packageId: "basic" } }),
          noParams,
        ),
      );
      expect(route.status).toBe(502);
      expect(failed).toEqual({ serverError: { ...route.body.error, retryable: true } });
      expect(failed.serverError?.message).not.toContain(SECRET_KEY);
    });
  });
});

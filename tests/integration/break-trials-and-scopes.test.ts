import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, creditPurchase, subscription, subscriptionPeriodGrant } from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import changeSubscriptionRoute from "../../src/routes/credits/change-subscription";
import { authenticateApiKey, createApiKey, revokeApiKey } from "../../src/service-api/api-keys";
import { parseScopeList } from "../../src/service-api/api-scopes";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  confirmPost,
  handlerOf,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
} from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { CARD_OK } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const subscriptionPatch = handlerOf(changeSubscriptionRoute);

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodEnd: string;
  trialAvailable?: boolean;
};
type Started = { subscriptionId: string; paymentIntentId: string };

describe.each(databaseKinds())("breaking trials and the sandbox clock (%s)", (kind) => {
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

  const newUser = () => signUp(`break-trial-${randomUUID()}@example.test`);

  async function subscribe(user: SignedUpUser, planId = "max-monthly") {
    return readJson<Started>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
  }
  const pay = (user: SignedUpUser, paymentIntentId: string, cardNumber = CARD_OK) =>
    confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId }),
    );
  const advance = async (user: SignedUpUser, subscriptionId: string) =>
    readJson<{ subscription: Summary; invoice: { id: string; status: string } | null }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  const summaryOf = async (user: SignedUpUser) =>
    (
      await readJson<Summary | null>(
        await subscriptionGet(
          appRequest("/api/credits/subscription", { cookie: user.cookie }),
          routeContext({}),
        ),
      )
    ).body;
  const cancel = (user: SignedUpUser) =>
    subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      routeContext({}),
    );
  const lotsOf = (userId: string) => database.db.select().from(creditLot).where(eq(creditLot.userId, userId));
  const trialRows = (userId: string) =>
    database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(and(eq(subscriptionPeriodGrant.userId, userId), eq(subscriptionPeriodGrant.kind, "trial")));

  async function trialing() {
    const user = await newUser();
    const started = await subscribe(user);
    expect(started.status).toBe(201);
    expect((await pay(user, started.body.paymentIntentId)).status).toBe(200);
    return { user, subscriptionId: started.body.subscriptionId };
  }

  it("trial → $49 at the trial's end → that invoice refunded: the 5,000 clawed back, the trial not offered again", async () => {
    const { user, subscriptionId } = await trialing();
    const advanced = await advance(user, subscriptionId);
    expect(advanced.body.invoice?.status).toBe("paid");
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, user.id), eq(creditPurchase.kind, "subscription_invoice")));
    expect(purchase).toMatchObject({ amount: 4900, credits: 5000 });
    await refundPurchase(database.db, sandbox, { purchaseId: purchase?.id ?? "", reason: "asked" }, admin);
    await assertLedgerInvariants(database.db);
    const { balance } = await getBalance(database.db, user.id);
    expect(balance).toBe(0);
    expect(await trialRows(user.id)).toHaveLength(1);
    expect((await summaryOf(user))?.trialAvailable ?? false).toBe(false);
  });

  it("changing plan while trialing (Pro monthly, Pro yearly) is answered 4xx, changes nothing, and the trial goes on", async () => {
    const { user } = await trialing();
    for (const planId of ["pro-monthly", "pro-yearly"]) {
      const response = await subscriptionPatch(
        appRequest("/api/credits/subscription", { method: "PATCH", cookie: user.cookie, json: { planId } }),
        routeContext({}),
      );
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
    }
    expect(await summaryOf(user)).toMatchObject({ planId: "max-monthly", status: "trialing" });
    expect(
      (await lotsOf(user.id)).filter((lot) => lot.source === "subscription").map((l) => l.credits),
    ).toEqual([500]);
  });

  it("a hold on the trial's credits across the trial's end: the held credits expire with the trial, a later capture is paid from the new period like a spend", async () => {
    const { user, subscriptionId } = await trialing();
    const hold = await createHold(database.db, {
      userId: user.id,
      amount: 400,
      description: "work",
      idempotencyKey: `hold-${randomUUID()}`,
      ttlSeconds: 3600,
    });
    expect(hold.ok).toBe(true);
    const advanced = await advance(user, subscriptionId);
    expect(advanced.body.invoice?.status).toBe("paid");
    await assertLedgerInvariants(database.db);
    if (!hold.ok) return;
    await captureHold(database.db, { holdId: hold.holdId, amount: 300 });
    await assertLedgerInvariants(database.db);
    const lots = (await lotsOf(user.id)).filter((lot) => lot.source === "subscription");
    const trialLot = lots.find((lot) => lot.credits === 500);
    const periodLot = lots.find((lot) => lot.credits === 5000);
    expect(trialLot?.remaining).toBe(0);
    // Documented (settle-hold.ts): the held trial credits expired with their lot, and the capture's
    // shortfall is paid from the available credits as a spend would be: the first period's lot.
    expect(periodLot?.remaining).toBe(4700);
  });

  it("an abandoned Max start ($0 not confirmed), then Pro: confirming the old $0 later starts no second subscription and no trial", async () => {
    const user = await newUser();
    const max = await subscribe(user, "max-monthly");
    expect(max.status).toBe(201);
    const pro = await subscribe(user, "pro-monthly");
    expect(pro.status).toBe(201);
    expect((await pay(user, pro.body.paymentIntentId)).status).toBe(200);
    const late = await pay(user, max.body.paymentIntentId);
    expect(late.status).toBeGreaterThanOrEqual(400);
    const live = await database.db.select().from(subscription).where(eq(subscription.userId, user.id));
    expect(
      live.filter((row) => ["trialing", "active"].includes(row.status)).map((row) => row.planId),
    ).toEqual(["pro-monthly"]);
    expect(await trialRows(user.id)).toEqual([]);
  });

  it("Pro advanced ahead of real time, cancelled and ended; then a Max trial advanced: every lot judged right, verify holds", async () => {
    const user = await newUser();
    const a = await subscribe(user, "pro-monthly");
    expect((await pay(user, a.body.paymentIntentId)).status).toBe(200);
    await advance(user, a.body.subscriptionId);
    await advance(user, a.body.subscriptionId);
    expect((await cancel(user)).status).toBe(200);
    const ended = await advance(user, a.body.subscriptionId);
    expect(ended.body.subscription.status).toBe("canceled");
    await assertLedgerInvariants(database.db);
    // Every lot of the ended subscription is past its (simulated) end: nothing of it is spendable.
    expect((await getBalance(database.db, user.id)).balance).toBe(0);

    const b = await subscribe(user, "max-monthly");
    expect(b.status).toBe(201);
    expect((await pay(user, b.body.paymentIntentId)).status).toBe(200);
    expect(await summaryOf(user)).toMatchObject({ status: "trialing" });
    expect((await getBalance(database.db, user.id)).balance).toBe(500);
    await advance(user, b.body.subscriptionId);
    await assertLedgerInvariants(database.db);
    expect((await getBalance(database.db, user.id)).balance).toBe(5000);
  });

  it("scopes: odd CLI lists are normalised or refused by name; a revoked key authenticates no more", async () => {
    expect(parseScopeList(" read ,, spend, read")).toEqual(["read", "spend"]);
    expect(() => parseScopeList(" READ")).toThrow(/unknown scope "READ"/);
    expect(() => parseScopeList(",,")).toThrow(/at least one/);
    const created = await createApiKey(database.db, "break-scopes", admin, ["read"]);
    expect(await authenticateApiKey(database.db, created.key)).toMatchObject({ scopes: ["read"] });
    await revokeApiKey(database.db, created.apiKey.id, admin);
    expect(await authenticateApiKey(database.db, created.key)).toBeNull();
  });

  it("two users subscribing to Max at once each get their own trial; spending during a trial then advancing stays consistent", async () => {
    const [first, second] = await Promise.all([trialing(), trialing()]);
    for (const { user } of [first, second]) {
      expect((await trialRows(user.id)).map((row) => row.credits)).toEqual([500]);
      expect((await getBalance(database.db, user.id)).balance).toBe(500);
    }
    await consumeCredits(database.db, {
      userId: first.user.id,
      amount: 120,
      description: "work",
      idempotencyKey: `spend-${randomUUID()}`,
    });
    await advance(first.user, first.subscriptionId);
    await assertLedgerInvariants(database.db);
    expect((await getBalance(database.db, first.user.id)).balance).toBe(5000);
    // The other user's trial is untouched by the first one's clock.
    expect((await getBalance(database.db, second.user.id)).balance).toBe(500);
  });

  it.skipIf(kind !== "postgres")(
    "a key used while its revocation is committing is not trusted after the revocation committed",
    async () => {
      const created = await createApiKey(database.db, `revoke-race-${randomUUID()}`, admin, ["read"]);
      // Another session holds the audit log so the revocation waits after updating the key (uncommitted)
      // and after clearing the process's cache, before its commit: the window a busy server has.
      const locker = new pg.Client({ connectionString: database.url });
      await locker.connect();
      try {
        await locker.query("BEGIN");
        await locker.query("LOCK TABLE audit_log IN EXCLUSIVE MODE");
        const revoking = revokeApiKey(database.db, created.apiKey.id, admin);
        await new Promise((resolve) => setTimeout(resolve, 500));
        // A request in that window still sees the key (the revocation has not committed): fine.
        expect(await authenticateApiKey(database.db, created.key)).not.toBeNull();
        await locker.query("COMMIT");
        await revoking;
      } finally {
        await locker.end();
      }
      // Revoked and committed: the next request must be refused, not served from a cache filled in the window.
      expect(await authenticateApiKey(database.db, created.key)).toBeNull();
    },
  );
});

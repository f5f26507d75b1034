import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getUserOverview } from "../../src/admin/get-user-overview";
import { getUserSubscriptions } from "../../src/admin/get-user-subscriptions";
import { listSubscriptions } from "../../src/admin/list-subscriptions";
import { resetAuth } from "../../src/auth/session";
import { InvalidInputError } from "../../src/credits/errors";
import { useDatabaseConnection } from "../../src/db/client";
import { subscription } from "../../src/db/schema";
import { errorResponse } from "../../src/server/http-errors";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  cardPut,
  confirmPost,
  subscriptionDelete,
  subscriptionGet,
  subscriptionsPost,
} from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_OK = "4242 4242 4242 4242";
/** Stripe's test card whose charges fail once it is on file: renewals fail, as do first payments. */
const CARD_CHARGE_FAILS = "4000 0000 0000 0341";

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
};

/**
 * The admin console's view of subscriptions: the list across users with its status filter, and a user's
 * subscriptions with what each period granted and carried. Everything is made through the app's own
 * routes (subscribe, pay, advance the sandbox's clock, change the card, cancel), as a customer would.
 */
describe.each(databaseKinds())("admin: subscriptions, their periods and grants (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A user (new unless given) who started a subscription to `planId` and paid its first invoice with `cardNumber`. */
  async function subscribed(planId = "pro-monthly", cardNumber = CARD_OK, existing?: SignedUpUser) {
    const user = existing ?? (await signUp(`admin-subs-${randomUUID()}@example.test`));
    const { status, body: started } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
    expect(status).toBe(201);
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${started.paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ paymentIntentId: started.paymentIntentId }),
    );
    expect(paid.status).toBe(cardNumber === CARD_OK ? 200 : 402);
    return { user, subscriptionId: started.subscriptionId };
  }

  async function advance(user: SignedUpUser, subscriptionId: string) {
    const response = await advancePost(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
      routeContext({ subscriptionId }),
    );
    expect(response.status).toBe(200);
  }

  async function setCard(user: SignedUpUser, subscriptionId: string, cardNumber: string) {
    const response = await cardPut(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
        method: "PUT",
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ subscriptionId }),
    );
    expect(response.status).toBe(200);
  }

  async function cancel(user: SignedUpUser) {
    const response = await subscriptionDelete(
      appRequest("/api/credits/subscription", { method: "DELETE", cookie: user.cookie }),
      routeContext({}),
    );
    expect(response.status).toBe(200);
  }

  async function summaryOf(user: SignedUpUser) {
    return (
      await readJson<Summary>(
        await subscriptionGet(
          appRequest("/api/credits/subscription", { cookie: user.cookie }),
          routeContext({}),
        ),
      )
    ).body;
  }

  /** The listed rows of these users only: other tests of this file share the database. */
  async function listedFor(users: SignedUpUser[], input: Parameters<typeof listSubscriptions>[1] = {}) {
    const ids = new Set(users.map((user) => user.id));
    return (await listSubscriptions(database.db, { limit: 200, ...input })).filter((row) =>
      ids.has(row.userId),
    );
  }

  it("lists subscriptions across users newest first with email, plan, status, period, cancel, payment problem; the status filter narrows", async () => {
    const active = await subscribed();
    const failing = await subscribed();
    await setCard(failing.user, failing.subscriptionId, CARD_CHARGE_FAILS);
    await advance(failing.user, failing.subscriptionId);
    const leaving = await subscribed("max-monthly");
    await cancel(leaving.user);
    const unpaid = await subscribed("pro-monthly", CARD_CHARGE_FAILS);
    const users = [active.user, failing.user, leaving.user, unpaid.user];

    const listed = await listedFor(users);

    // Newest first: the order they were started in, reversed.
    expect(listed.map((row) => row.email)).toEqual([...users].reverse().map((user) => user.email));
    const activeSummary = await summaryOf(active.user);
    expect(listed.find((row) => row.userId === active.user.id)).toEqual({
      id: active.subscriptionId,
      userId: active.user.id,
      email: active.user.email,
      provider: "sandbox",
      providerSubscriptionId: expect.any(String),
      planId: "pro-monthly",
      status: "active",
      currentPeriodStart: activeSummary.currentPeriodStart,
      currentPeriodEnd: activeSummary.currentPeriodEnd,
      cancelAtPeriodEnd: false,
      canceledAt: null,
      endedAt: null,
      scheduledPlanId: null,
      paymentProblem: null,
      paymentProblemAt: null,
      flaggedReason: null,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(listed.find((row) => row.userId === failing.user.id)).toMatchObject({
      status: "past_due",
      paymentProblem: "payment_failed",
      paymentProblemAt: expect.any(String),
    });
    // Max starts with its trial: cancelled during it.
    expect(listed.find((row) => row.userId === leaving.user.id)).toMatchObject({
      planId: "max-monthly",
      status: "trialing",
      cancelAtPeriodEnd: true,
    });
    expect(listed.find((row) => row.userId === unpaid.user.id)).toMatchObject({
      status: "incomplete",
      paymentProblem: "payment_failed",
    });

    // The filter: only that status, whoever else has others.
    expect((await listedFor(users, { status: "past_due" })).map((row) => row.userId)).toEqual([
      failing.user.id,
    ]);
    expect((await listedFor(users, { status: "incomplete" })).map((row) => row.userId)).toEqual([
      unpaid.user.id,
    ]);
    expect((await listedFor(users, { status: "active" })).map((row) => row.userId)).toEqual([active.user.id]);
    expect((await listedFor(users, { status: "trialing" })).map((row) => row.userId)).toEqual([
      leaving.user.id,
    ]);
    expect(await listedFor(users, { status: "canceled" })).toEqual([]);
    for (const row of await listSubscriptions(database.db, { status: "active", limit: 200 }))
      expect(row.status).toBe("active");

    // Bounded: the newest `limit`, at least one, at most 200.
    const two = await listSubscriptions(database.db, { limit: 2 });
    expect(two.map((row) => row.userId)).toEqual([unpaid.user.id, leaving.user.id]);
    expect(await listSubscriptions(database.db, { limit: 0 })).toHaveLength(1);
    expect((await listSubscriptions(database.db, { limit: 1e9 })).length).toBeLessThanOrEqual(200);
  });

  it("shows a plan change scheduled for the period's end", async () => {
    const { user, subscriptionId } = await subscribed("max-monthly");
    // No route schedules a downgrade yet; the column is what the provider's schedule writes.
    await database.db
      .update(subscription)
      .set({ scheduledPlanId: "pro-monthly" })
      .where(eq(subscription.id, subscriptionId));

    expect(await listedFor([user])).toMatchObject([
      { planId: "max-monthly", scheduledPlanId: "pro-monthly" },
    ]);
    expect(await getUserSubscriptions(database.db, user.id)).toMatchObject([
      { id: subscriptionId, planId: "max-monthly", scheduledPlanId: "pro-monthly" },
    ]);
  });

  it("refuses a status no subscription can have, as a 400, instead of answering an empty list", async () => {
    for (const status of ["Active", "pastdue", "", "active; DROP TABLE subscription", "act\u0000ive"]) {
      const refused = listSubscriptions(database.db, { status });
      await expect(refused).rejects.toBeInstanceOf(InvalidInputError);
      const response = errorResponse(await refused.catch((error: unknown) => error));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: "invalid_input" } });
    }
  });

  it("a user's subscription shows each paid period's grant, its invoice and lot, and each carry, newest first", async () => {
    const { user, subscriptionId } = await subscribed();
    const first = await summaryOf(user);
    await advance(user, subscriptionId);
    const second = await summaryOf(user);
    await advance(user, subscriptionId);
    const third = await summaryOf(user);

    const [only, ...others] = await getUserSubscriptions(database.db, user.id);
    expect(others).toEqual([]);
    expect(only).toMatchObject({
      id: subscriptionId,
      planId: "pro-monthly",
      status: "active",
      currentPeriodStart: third.currentPeriodStart,
      currentPeriodEnd: third.currentPeriodEnd,
      moreGrants: false,
      moreRollovers: false,
    });
    const invoice = { amount: 1900, currency: expect.stringMatching(/^usd$/i), amountRefunded: 0 };
    // Three paid invoices, three periods of 1,000; the two past periods' lots expired at their ends.
    expect(only?.grants).toEqual(
      [third, second, first].map((period, index) => ({
        invoiceId: expect.stringMatching(/^in_sbx_/),
        kind: "period",
        slotIndex: null,
        planId: "pro-monthly",
        periodStart: period.currentPeriodStart,
        periodEnd: period.currentPeriodEnd,
        credits: 1000,
        status: "granted",
        remaining: index === 0 ? 1000 : 0,
        purchaseId: expect.any(String),
        invoice: { ...invoice, status: "succeeded" },
        createdAt: expect.any(String),
      })),
    );
    expect(new Set(only?.grants.map((grant) => grant.invoiceId)).size).toBe(3);
    // Each renewal carried the ended period's unspent 1,000 (the cap) into the new period, once.
    expect(only?.rollovers).toEqual(
      [third, second].map((period) => ({
        intoStart: period.currentPeriodStart,
        intoEnd: period.currentPeriodEnd,
        planId: "pro-monthly",
        cap: 1000,
        credits: 1000,
        status: "granted",
        createdAt: expect.any(String),
        settledAt: expect.any(String),
      })),
    );

    // The admin user page reads the same through the overview.
    const overview = await getUserOverview(database.db, user.id);
    expect(overview.subscriptions).toEqual(await getUserSubscriptions(database.db, user.id));
  });

  it("a failed renewal shows no grant for its period until a card that works pays it; a new plan after cancelling lists first", async () => {
    const { user, subscriptionId } = await subscribed();
    await setCard(user, subscriptionId, CARD_CHARGE_FAILS);
    await advance(user, subscriptionId);

    const [failed] = await getUserSubscriptions(database.db, user.id);
    expect(failed).toMatchObject({ status: "past_due", paymentProblem: "payment_failed" });
    expect(failed?.grants.map((grant) => grant.status)).toEqual(["granted"]);
    const [failedFirst] = failed?.grants ?? [];
    expect(failedFirst?.periodEnd).toBe(failed?.currentPeriodStart);

    await setCard(user, subscriptionId, CARD_OK);
    const [recovered] = await getUserSubscriptions(database.db, user.id);
    expect(recovered).toMatchObject({ status: "active", paymentProblem: null });
    expect(recovered?.grants.map((grant) => [grant.periodStart, grant.status])).toEqual([
      [recovered?.currentPeriodStart, "granted"],
      [failedFirst?.periodStart, "granted"],
    ]);

    // Cancelled at the period's end, ended by the clock, then a new plan: both listed, the new one first.
    await cancel(user);
    await advance(user, subscriptionId);
    const { subscriptionId: secondId } = await subscribed("max-monthly", CARD_OK, user);

    const both = await getUserSubscriptions(database.db, user.id);
    expect(both.map((row) => [row.id, row.planId, row.status])).toEqual([
      [secondId, "max-monthly", "trialing"],
      [subscriptionId, "pro-monthly", "canceled"],
    ]);
    // The user never had a trial (Pro has none): Max's is theirs, its 500 credits the grant shown.
    expect(both[0]?.grants).toMatchObject([{ kind: "trial", credits: 500, status: "granted" }]);
    expect(both[1]?.endedAt).not.toBeNull();
    // Ending stops future grants and takes none back: the two granted periods are still there.
    expect(both[1]?.grants.map((grant) => grant.status)).toEqual(["granted", "granted"]);
    expect((await listedFor([user], { status: "canceled" })).map((row) => row.id)).toEqual([subscriptionId]);
  });

  it("a user who never subscribed has no subscriptions, and a failed first payment grants no period", async () => {
    const nobody = await signUp(`admin-subs-none-${randomUUID()}@example.test`);
    expect(await getUserSubscriptions(database.db, nobody.id)).toEqual([]);
    expect((await getUserOverview(database.db, nobody.id)).subscriptions).toEqual([]);

    const { user } = await subscribed("pro-monthly", CARD_CHARGE_FAILS);
    expect(await getUserSubscriptions(database.db, user.id)).toMatchObject([
      { status: "incomplete", grants: [], rollovers: [], currentPeriodStart: expect.any(String) },
    ]);
  });
});

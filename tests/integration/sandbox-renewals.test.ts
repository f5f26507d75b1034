import { randomUUID } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { consumeCredits } from "../../src/credits/consume-credits";
import { expireLotsDueBy } from "../../src/credits/expire-lots-due-by";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditEntry,
  creditLot,
  sandboxInvoice,
  sandboxSubscription,
  subscriptionRollover,
} from "../../src/db/schema";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  balanceGet,
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

type Summary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
};
type Advanced = {
  subscription: Summary;
  invoice: { id: string; status: string } | null;
  clock: string;
  error?: { code: string };
};

describe.each(databaseKinds())("renewals in the sandbox: advancing the clock (%s)", (kind) => {
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

  /** A new user subscribed to `planId` and paid with 4242, as the credits page does it. */
  async function subscribed(planId = "pro-monthly") {
    const user = await signUp(`renewal-${randomUUID()}@example.test`);
    const { body: started } = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
        routeContext({}),
      ),
    );
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${started.paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ paymentIntentId: started.paymentIntentId }),
    );
    expect(paid.status).toBe(200);
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

  async function balanceOf(user: SignedUpUser) {
    const { body } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    return body.balance;
  }

  const lotsOf = (userId: string) =>
    database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.userId, userId))
      // Lots written in one transaction share their time: the grant entry's id orders them as written.
      .orderBy(asc(creditLot.createdAt), asc(creditLot.grantEntryId));

  /** The user's subscription lots and carries: [source, credits, remaining, expires]. */
  async function planLots(userId: string) {
    return (await lotsOf(userId))
      .filter((lot) => lot.source === "subscription" || lot.source === "rollover")
      .map((lot) => [lot.source, lot.credits, lot.remaining, lot.expiresAt?.toISOString()]);
  }

  it("rule 21: advance answers after the renewal's credits arrived: the next period's 1,000 plus the carry", async () => {
    const { user, subscriptionId } = await subscribed();
    const first = await summaryOf(user);

    const { status, body } = await advance(user, subscriptionId);

    expect(status).toBe(200);
    expect(body.clock).toBe(first.currentPeriodEnd);
    expect(body.invoice).toEqual({ id: expect.stringMatching(/^in_sbx_/), status: "paid" });
    // The new period starts where the first ended and runs a month from the anchor.
    expect(body.subscription).toMatchObject({
      id: subscriptionId,
      status: "active",
      currentPeriodStart: first.currentPeriodEnd,
    });
    // Nothing was spent: the first period's 1,000 expired at its end and carry over (cap 1,000).
    expect(await balanceOf(user)).toBe(2000);
    expect(await planLots(user.id)).toEqual([
      ["subscription", 1000, 0, first.currentPeriodEnd],
      ["subscription", 1000, 1000, body.subscription.currentPeriodEnd],
      ["rollover", 1000, 1000, body.subscription.currentPeriodEnd],
    ]);
    const [invoice] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.id, body.invoice?.id ?? ""));
    expect(invoice).toMatchObject({ billingReason: "subscription_cycle", status: "paid", amountPaid: 1900 });
  });

  it("rule 17 (capped): spend 300 of 1,000 and 700 carry; a carry is never carried again, so the total stays capped", async () => {
    const { user, subscriptionId } = await subscribed();
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 300,
      description: "work",
      idempotencyKey: `work-${randomUUID()}`,
    });

    const second = await advance(user, subscriptionId);
    expect(await balanceOf(user)).toBe(1700);
    expect((await planLots(user.id)).slice(1)).toEqual([
      ["subscription", 1000, 1000, second.body.subscription.currentPeriodEnd],
      ["rollover", 700, 700, second.body.subscription.currentPeriodEnd],
    ]);

    // Nothing spent in the second period: its 1,000 carry (the cap), the 700 carried into it do not.
    const third = await advance(user, subscriptionId);
    expect(await balanceOf(user)).toBe(2000);
    const carries = await database.db
      .select()
      .from(subscriptionRollover)
      .where(eq(subscriptionRollover.userId, user.id))
      .orderBy(asc(subscriptionRollover.intoStart));
    expect(carries.map((carry) => [carry.status, carry.credits, carry.cap])).toEqual([
      ["granted", 700, 1000],
      ["granted", 1000, 1000],
    ]);

    // Spending 1,500 of 2,000: the carry counts as spent first, so 500 of the period's own are left and carry.
    await consumeCredits(database.db, {
      userId: user.id,
      amount: 1500,
      description: "work",
      idempotencyKey: `work-${randomUUID()}`,
    });
    await advance(user, subscriptionId);
    expect(await balanceOf(user)).toBe(1500);
    expect(third.body.subscription.status).toBe("active");
  });

  it("rule 5: anchored on Jan 31, renewals fall on Feb 28 and Mar 31, and each period's lot expires then", async () => {
    const { user, subscriptionId } = await subscribed();
    // The subscription placed on its own clock in 2031, anchored at the end of January, as if created then.
    const anchor = new Date("2031-01-31T09:30:00Z");
    await database.db
      .update(sandboxSubscription)
      .set({
        billingCycleAnchor: anchor,
        currentPeriodStart: anchor,
        currentPeriodEnd: new Date("2031-02-28T09:30:00Z"),
        clock: anchor,
      })
      .where(eq(sandboxSubscription.subscriptionRowId, subscriptionId));

    const february = await advance(user, subscriptionId);
    expect(february.body).toMatchObject({
      clock: "2031-02-28T09:30:00.000Z",
      subscription: {
        currentPeriodStart: "2031-02-28T09:30:00.000Z",
        currentPeriodEnd: "2031-03-31T09:30:00.000Z",
      },
    });
    const march = await advance(user, subscriptionId);
    expect(march.body).toMatchObject({
      clock: "2031-03-31T09:30:00.000Z",
      subscription: {
        currentPeriodStart: "2031-03-31T09:30:00.000Z",
        currentPeriodEnd: "2031-04-30T09:30:00.000Z",
      },
    });
    const expiries = (await lotsOf(user.id))
      .filter((lot) => lot.source === "subscription")
      .map((lot) => lot.expiresAt?.toISOString());
    expect(expiries.slice(1)).toEqual(["2031-03-31T09:30:00.000Z", "2031-04-30T09:30:00.000Z"]);
    // The expiry of a period's credits says which plan and period they were.
    const expired = await database.db
      .select()
      .from(creditEntry)
      .where(eq(creditEntry.userId, user.id))
      .orderBy(asc(creditEntry.id));
    const lastExpiry = expired.filter((entry) => entry.type === "expire").at(-1);
    expect(lastExpiry?.metadata).toMatchObject({
      lotSource: "subscription",
      planId: "pro-monthly",
      periodStart: "2031-02-28T09:30:00.000Z",
      periodEnd: "2031-03-31T09:30:00.000Z",
    });
  });

  it("rule 13: DELETE cancels at the period's end; the advance then ends it with no invoice, credits keep their expiry", async () => {
    const { user, subscriptionId } = await subscribed();
    const canceled = await readJson<Summary>(
      await subscriptionDelete(
        appRequest("/api/credits/subscription", { cookie: user.cookie, method: "DELETE" }),
        routeContext({}),
      ),
    );
    expect(canceled).toMatchObject({ status: 200, body: { status: "active", cancelAtPeriodEnd: true } });
    const [lotBefore] = await lotsOf(user.id);
    expect(await balanceOf(user)).toBe(1000);

    const ended = await advance(user, subscriptionId);
    expect(ended.body).toMatchObject({ invoice: null, subscription: { status: "canceled" } });
    // The period's credits ended with the period (their own expiry), nothing more was granted or taken.
    const lots = await lotsOf(user.id);
    expect(lots).toHaveLength(1);
    expect(lots[0]?.expiresAt).toEqual(lotBefore?.expiresAt);
    expect(await summaryOf(user)).toMatchObject({ status: "canceled" });
    // An ended subscription has no renewal to move to.
    expect(await advance(user, subscriptionId)).toMatchObject({
      status: 409,
      body: { error: { code: "subscription_not_advanceable" } },
    });
    // Nothing left to cancel.
    const again = await subscriptionDelete(
      appRequest("/api/credits/subscription", { cookie: user.cookie, method: "DELETE" }),
      routeContext({}),
    );
    expect(again.status).toBe(404);
  });

  it("the clock's expiry moves only forward: expireLotsDueBy refuses a time before the database's now", async () => {
    const { user } = await subscribed();
    const past = new Date(Date.now() - 60_000);
    await expect(
      database.db.transaction((tx) => expireLotsDueBy(tx, user.id, past, [])),
    ).rejects.toMatchObject({
      code: "invalid_input",
    });
    expect(await balanceOf(user)).toBe(1000);
  });

  it("rule 21: only the owner advances; unknown ids answer 404 and an unpaid subscription 409", async () => {
    const { user, subscriptionId } = await subscribed();
    const stranger = await signUp(`stranger-${randomUUID()}@example.test`);
    expect((await advance(stranger, subscriptionId)).status).toBe(404);
    expect((await advance(user, randomUUID())).status).toBe(404);
    expect((await advance(user, "not-a-uuid")).status).toBe(404);
    expect(await balanceOf(user)).toBe(1000);

    const { body: unpaid } = await readJson<{ subscriptionId: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", {
          cookie: stranger.cookie,
          json: { planId: "pro-monthly" },
        }),
        routeContext({}),
      ),
    );
    expect(await advance(stranger, unpaid.subscriptionId)).toMatchObject({
      status: 409,
      body: { error: { code: "subscription_not_advanceable" } },
    });
    expect(
      (
        await advancePost(
          appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { json: {} }),
          routeContext({ subscriptionId }),
        )
      ).status,
    ).toBe(401);
  });
});

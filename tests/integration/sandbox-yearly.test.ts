import { randomUUID } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addMonthsClamped } from "../../src/credits/credit-periods";
import { useDatabaseConnection } from "../../src/db/client";
import { creditEntry, sandboxInvoice } from "../../src/db/schema";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import {
  advancePost,
  balanceGet,
  confirmPost,
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
};
type Advanced = {
  subscription: Summary;
  invoice: { id: string; status: string } | null;
  clock: string;
  slot: { start: string; end: string } | null;
};

// A newcomer subscribes to Pro yearly in the sandbox, pays the year, and advances the clock month by
// month: 1,000 credits arrive each month (with the capped carry), and the year renews at its end.
describe.each(databaseKinds())("a yearly plan in the sandbox (%s)", (kind) => {
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

  async function advance(user: SignedUpUser, subscriptionId: string) {
    return readJson<Advanced>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
  }
  async function balanceOf(user: SignedUpUser) {
    const { body } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    return body.balance;
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
  const planEntries = (userId: string) =>
    database.db
      .select()
      .from(creditEntry)
      .where(eq(creditEntry.userId, userId))
      .orderBy(asc(creditEntry.id))
      .then((entries) =>
        entries.filter((entry) => entry.type === "subscription" || entry.type === "rollover"),
      );

  it("subscribe to Pro yearly: the first invoice is the year's price for a year; 1,000 arrive now", async () => {
    const user = await signUp(`yearly-${randomUUID()}@example.test`);
    const started = await readJson<{ subscriptionId: string; paymentIntentId: string; provider: string }>(
      await subscriptionsPost(
        appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId: "pro-yearly" } }),
        routeContext({}),
      ),
    );
    expect(started).toMatchObject({ status: 201, body: { provider: "sandbox" } });
    const { subscriptionId, paymentIntentId } = started.body;
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ paymentIntentId }),
    );
    expect(paid.status).toBe(200);

    const summary = await summaryOf(user);
    expect(summary).toMatchObject({ id: subscriptionId, planId: "pro-yearly", status: "active" });
    const start = new Date(summary.currentPeriodStart);
    expect(new Date(summary.currentPeriodEnd)).toEqual(addMonthsClamped(start, 12));
    const [invoice] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.status, "paid"));
    if (!invoice) throw new Error("no paid invoice");
    expect(invoice).toMatchObject({ amountPaid: 19000, billingReason: "subscription_create" });
    expect((invoice.lines as { period: { start: number; end: number } }[])[0]?.period).toEqual({
      start: start.getTime() / 1000,
      end: addMonthsClamped(start, 12).getTime() / 1000,
    });
    // One month's credits, not the year's.
    expect(await balanceOf(user)).toBe(1000);

    // Advance: the clock moves to the next monthly slot, the year's invoice paid for it, 1,000 more arrive
    // and the first month's unspent 1,000 carry (capped at 1,000).
    const first = await advance(user, subscriptionId);
    expect(first).toMatchObject({
      status: 200,
      body: {
        clock: addMonthsClamped(start, 1).toISOString(),
        // The month reached, which the page names ("Next month of your yearly plan, …"), not the year.
        slot: {
          start: addMonthsClamped(start, 1).toISOString(),
          end: addMonthsClamped(start, 2).toISOString(),
        },
        invoice: { id: invoice.id, status: "paid" },
        subscription: { status: "active", currentPeriodEnd: summary.currentPeriodEnd },
      },
    });
    expect(await balanceOf(user)).toBe(2000);

    // Ten more months: each brings its slot.
    for (let month = 2; month <= 11; month++) {
      const moved = await advance(user, subscriptionId);
      expect(moved.body.clock).toBe(addMonthsClamped(start, month).toISOString());
      expect(moved.body.invoice).toEqual({ id: invoice.id, status: "paid" });
    }
    expect(await balanceOf(user)).toBe(2000);
    const entries = await planEntries(user.id);
    expect(entries.filter((entry) => entry.type === "subscription")).toHaveLength(12);
    expect(entries.filter((entry) => entry.type === "rollover")).toHaveLength(11);

    // At the year's end the subscription renews: a new yearly invoice, and the new year's first month.
    const renewed = await advance(user, subscriptionId);
    expect(renewed.body).toMatchObject({
      clock: summary.currentPeriodEnd,
      slot: null,
      invoice: { status: "paid" },
      subscription: { currentPeriodStart: summary.currentPeriodEnd },
    });
    expect(renewed.body.invoice?.id).not.toBe(invoice.id);
    const [second] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.id, renewed.body.invoice?.id ?? ""));
    expect(second).toMatchObject({ amountPaid: 19000, billingReason: "subscription_cycle" });
    expect(await balanceOf(user)).toBe(2000);
    expect((await planEntries(user.id)).filter((entry) => entry.type === "subscription")).toHaveLength(13);
  });
});

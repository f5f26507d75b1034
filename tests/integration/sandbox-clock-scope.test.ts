import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { grantSignupGift } from "../../src/credits/grant-signup-gift";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { creditAllocation, creditEntry, creditLot, user as userTable } from "../../src/db/schema";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { grantFreePlanCredits } from "../../src/payment/subscriptions/grant-free-plan-credits";
import { useAppDatabase } from "../support/app-database";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { advancePost, balanceGet, confirmPost, purchasesPost, webhookPost } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { deliverStripeEvent, disputeObject, testId } from "../support/stripe-events";
import { CARD_OK, subscribeAndPay } from "../support/subscriptions";
import { databaseKinds } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

/**
 * The sandbox's test clock moves one subscription ahead of real time. Only that subscription's own lots
 * may expire by it: a package bought today that lasts a year, the signup gift and the Free plan's credits
 * are judged by the real clock, whatever the subscription's clock says ("credits from packages, gifts and
 * grants are never touched by anything a subscription does").
 */
describe.each(databaseKinds())("the sandbox clock expires only its subscription's lots (%s)", (kind) => {
  const database = useAppDatabase(kind);

  async function buyPackage(user: SignedUpUser, packageId: string) {
    const { body } = await readJson<{ paymentIntentId: string }>(
      await purchasesPost(
        appRequest("/api/credits/purchases", { cookie: user.cookie, json: { packageId } }),
        routeContext({}),
      ),
    );
    const paid = await confirmPost(
      appRequest(`/api/sandbox/payment-intents/${body.paymentIntentId}/confirm`, {
        cookie: user.cookie,
        json: { cardNumber: CARD_OK },
      }),
      routeContext({ paymentIntentId: body.paymentIntentId }),
    );
    expect(paid.status).toBe(200);
  }

  async function balanceOf(user: SignedUpUser) {
    const { body } = await readJson<{ balance: number }>(
      await balanceGet(appRequest("/api/credits/balance", { cookie: user.cookie }), routeContext({})),
    );
    return body.balance;
  }

  it("a year and more of renewals leaves the package, the signup gift and the Free credits as they were", async () => {
    const user = await signUp(`clock-scope-${randomUUID()}@example.test`);
    // A verified address brings the Free plan's month and the signup gift (30 days), as at sign-up.
    await database.db.update(userTable).set({ emailVerified: true }).where(eq(userTable.id, user.id));
    await grantFreePlanCredits(database.db, { userId: user.id });
    const gift = await grantSignupGift(database.db, {
      userId: user.id,
      email: user.email,
      amount: 50,
      expireDays: 30,
    });
    expect(gift.granted).toBe(true);
    // The enterprise package: 5,000 credits that expire 365 days after today.
    await buyPackage(user, "enterprise");
    const before = await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id));
    const free = before.find((lot) => lot.source === "free_plan");
    const pkg = before.find((lot) => lot.source === "purchase");
    expect(free).toMatchObject({ remaining: 50 });
    expect(pkg).toMatchObject({ credits: 5000, remaining: 5000 });
    expect(pkg?.expiresAt).not.toBeNull();
    const others = before.map((lot) => ({ id: lot.id, credits: lot.credits }));
    expect(others).toHaveLength(3);
    const othersTotal = others.reduce((sum, lot) => sum + lot.credits, 0);
    expect(othersTotal).toBe(5100);

    const { subscriptionId, paidStatus } = await subscribeAndPay(user, "pro-monthly");
    expect(paidStatus).toBe(200);
    // Thirteen renewals: fourteen periods, past the package's year and far past the gift's month.
    let clock = "";
    for (let i = 0; i < 13; i++) {
      const moved = await readJson<{ clock: string; invoice: { status: string } | null }>(
        await advancePost(
          appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, {
            cookie: user.cookie,
            json: {},
          }),
          routeContext({ subscriptionId }),
        ),
      );
      expect(moved.status).toBe(200);
      expect(moved.body.invoice?.status).toBe("paid");
      clock = moved.body.clock;
    }
    expect(new Date(clock).getTime()).toBeGreaterThan((pkg?.expiresAt?.getTime() ?? 0) + 24 * 3600_000);

    // The package, the gift and the Free credits: untouched, no entry allocated from them.
    for (const { id, credits } of others) {
      const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.id, id));
      expect(lot).toMatchObject({ credits, remaining: credits });
      const touched = await database.db
        .select({ entryId: creditAllocation.entryId })
        .from(creditAllocation)
        .where(eq(creditAllocation.lotId, id));
      expect(touched).toEqual([]);
    }
    // The subscription's own credits did expire by its clock: each ended period's unspent 1,000, and each
    // carry (capped at one month) at the end of the period it was carried into. What is left of the plan
    // is this period's 1,000 and the last period's carry of 1,000.
    const expiries = await database.db
      .select({ amount: creditEntry.amount, reference: creditEntry.reference })
      .from(creditEntry)
      .where(and(eq(creditEntry.userId, user.id), eq(creditEntry.type, "expire")));
    expect(expiries.length).toBeGreaterThanOrEqual(13 + 12);
    expect(expiries.every((entry) => entry.amount === -1000)).toBe(true);
    expect(expiries.some((entry) => others.some((lot) => lot.id === entry.reference))).toBe(false);
    expect(await balanceOf(user)).toBe(othersTotal + 2000);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });

  it("a yearly plan's monthly slots, issued at the subscription's clock, leave a package of a year untouched", async () => {
    const user = await signUp(`clock-scope-yearly-${randomUUID()}@example.test`);
    await buyPackage(user, "enterprise");
    const [pkg] = await database.db.select().from(creditLot).where(eq(creditLot.userId, user.id));
    expect(pkg).toMatchObject({ credits: 5000, remaining: 5000 });

    const { subscriptionId, paidStatus } = await subscribeAndPay(user, "pro-yearly");
    expect(paidStatus).toBe(200);
    for (let i = 0; i < 13; i++) {
      const moved = await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      );
      expect(moved.status).toBe(200);
    }
    const [after] = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.id, pkg?.id ?? ""));
    expect(after).toMatchObject({ credits: 5000, remaining: 5000 });
    // Fourteen monthly slots issued (twelve of the first year, two of the renewed one), each written at
    // the real clock; every ended slot's 1,000 and every carry expired by the subscription's clock.
    const entries = await database.db.select().from(creditEntry).where(eq(creditEntry.userId, user.id));
    expect(entries.filter((entry) => entry.type === "subscription")).toHaveLength(14);
    const expiresAt = after?.expiresAt?.getTime() ?? 0;
    expect(
      entries
        .filter((entry) => entry.type !== "expire")
        .every((entry) => entry.createdAt.getTime() < expiresAt),
    ).toBe(true);
    expect(await balanceOf(user)).toBe(5000 + 1000 + 1000);
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });

  it("credits a won dispute gives back after the clock passed their period stay spendable until the next advance expires them", async () => {
    const user = await signUp(`clock-scope-dispute-${randomUUID()}@example.test`);
    const { subscriptionId, paymentIntentId } = await subscribeAndPay(user, "pro-monthly");
    const advance = async () =>
      (
        await readJson<{ clock: string }>(
          await advancePost(
            appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, {
              cookie: user.cookie,
              json: {},
            }),
            routeContext({ subscriptionId }),
          ),
        )
      ).body.clock;
    const deliver = async (type: string, status: string, created: number) => {
      const dispute = disputeObject({
        id: "dp_clock_scope",
        amount: 1900,
        currency: "usd",
        charge: testId("ch"),
        payment_intent: paymentIntentId,
        status,
      });
      const delivered = await deliverStripeEvent(webhookPost, webhookSigningSecret(), type, dispute, {
        created,
      });
      expect(delivered.status).toBe(200);
    };
    // The first invoice is disputed while its period runs: its 1,000 are withdrawn (nothing to carry).
    const now = Math.floor(Date.now() / 1000);
    await deliver("charge.dispute.created", "needs_response", now);
    const firstEnd = await advance();
    // Won after the subscription's clock passed that period: the credits come back expiring with the
    // period, a time the subscription's clock has passed but the real one has not.
    await deliver("charge.dispute.closed", "won", now + 1);
    const [returned] = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, user.id), eq(creditLot.source, "dispute_reversal")));
    expect(returned).toMatchObject({ credits: 1000, remaining: 1000 });
    expect(returned?.expiresAt?.toISOString()).toBe(firstEnd);
    // Spendable by the real clock: the second period's 1,000 and the 1,000 given back.
    expect(await balanceOf(user)).toBe(2000);
    expect((await verifyLedger(database.db)).violations).toEqual([]);

    // The next advance expires them with the second period's credits, dated its boundary.
    const secondEnd = await advance();
    const [expired] = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.id, returned?.id ?? ""));
    expect(expired).toMatchObject({ remaining: 0 });
    const [entry] = await database.db
      .select()
      .from(creditEntry)
      .where(and(eq(creditEntry.reference, returned?.id ?? ""), eq(creditEntry.type, "expire")));
    expect(entry).toMatchObject({ amount: -1000 });
    expect(entry?.createdAt.toISOString()).toBe(secondEnd);
    // What is left: the third period's 1,000 and the second's unspent 1,000 carried into it.
    expect(await balanceOf(user)).toBe(2000);
  });
});

import { and, asc, eq } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findPlan } from "../../src/catalog/plans";
import { verifySubscriptions } from "../../src/credits/verify-subscriptions";
import { creditEntry, creditLot, freePlanGrant, subscription, user } from "../../src/db/schema";
import { runSubscriptionCredits } from "../../src/jobs/run-subscription-credits";
import { grantCreditPeriod } from "../../src/payment/subscriptions/grant-credit-period";
import { freePlan, grantFreePlanCredits } from "../../src/payment/subscriptions/grant-free-plan-credits";
import { recordInvoicePurchase } from "../../src/payment/subscriptions/invoice-purchase";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const at = (iso: string) => new Date(iso);
const FREE_CREDITS = freePlan()?.creditsPerMonth ?? 0;

// The Free plan's monthly credits come from the `subscription-credits` job: per user, per period anchored
// on the sign-up day, once, and never while a paid plan's credits cover the period.
describe.each(databaseKinds())("Free plan credits (%s)", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 25 });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A user who signed up at `signedUpAt`. */
  async function userSince(signedUpAt: string) {
    const userId = await seedUser(database.db);
    await database.db
      .update(user)
      .set({ createdAt: at(signedUpAt), emailVerified: true })
      .where(eq(user.id, userId));
    return userId;
  }

  const freeEntriesOf = (userId: string) =>
    database.db
      .select()
      .from(creditEntry)
      .where(and(eq(creditEntry.userId, userId), eq(creditEntry.type, "free_plan")))
      .orderBy(asc(creditEntry.id));
  const freeRowsOf = (userId: string) =>
    database.db
      .select()
      .from(freePlanGrant)
      .where(eq(freePlanGrant.userId, userId))
      .orderBy(asc(freePlanGrant.periodStart));

  it("grants the catalog's 50 a period, anchored on the sign-up day (Jan 31 → Feb 28 → Mar 31), expiring at the period's end", async () => {
    expect(FREE_CREDITS).toBe(50);
    const userId = await userSince("2031-01-31T10:00:00Z");

    await runSubscriptionCredits(database.db, at("2031-02-10T00:00:00Z"));
    await runSubscriptionCredits(database.db, at("2031-02-20T00:00:00Z"));
    await runSubscriptionCredits(database.db, at("2031-03-01T00:00:00Z"));

    expect(
      (await freeRowsOf(userId)).map((row) => [row.periodStart.toISOString(), row.periodEnd.toISOString()]),
    ).toEqual([
      ["2031-01-31T10:00:00.000Z", "2031-02-28T10:00:00.000Z"],
      ["2031-02-28T10:00:00.000Z", "2031-03-31T10:00:00.000Z"],
    ]);
    expect((await freeEntriesOf(userId)).map((entry) => entry.amount)).toEqual([50, 50]);
    const lots = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.userId, userId))
      .orderBy(asc(creditLot.createdAt));
    expect(lots.map((lot) => [lot.source, lot.category, lot.credits, lot.expiresAt?.toISOString()])).toEqual([
      ["free_plan", "promotional", 50, "2031-02-28T10:00:00.000Z"],
      ["free_plan", "promotional", 50, "2031-03-31T10:00:00.000Z"],
    ]);
  });

  it("grants a period once when three runs go at once, and again not on a fourth", async () => {
    const userId = await userSince("2031-04-15T08:00:00Z");
    const now = at("2031-04-20T00:00:00Z");
    await Promise.all([1, 2, 3].map(() => runSubscriptionCredits(database.db, now)));
    await runSubscriptionCredits(database.db, now);
    expect(await freeRowsOf(userId)).toHaveLength(1);
    expect((await freeEntriesOf(userId)).map((entry) => entry.amount)).toEqual([50]);
  });

  it("an address not verified gets nothing until it is; then the pass for that user alone grants at once", async () => {
    const userId = await userSince("2031-04-15T08:00:00Z");
    await database.db.update(user).set({ emailVerified: false }).where(eq(user.id, userId));
    const now = at("2031-04-20T00:00:00Z");
    await runSubscriptionCredits(database.db, now);
    expect(await freeEntriesOf(userId)).toEqual([]);

    await database.db.update(user).set({ emailVerified: true }).where(eq(user.id, userId));
    expect(await grantFreePlanCredits(database.db, { now, userId })).toEqual({ granted: 1, skipped: 0 });
    expect((await freeEntriesOf(userId)).map((entry) => entry.amount)).toEqual([FREE_CREDITS]);
  });

  it("works through users in batches: every user of a pass is granted whatever the batch size", async () => {
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => userSince("2031-05-02T00:00:00Z")));
    const result = await grantFreePlanCredits(database.db, { now: at("2031-05-03T00:00:00Z"), batchSize: 2 });
    expect(result.granted).toBeGreaterThanOrEqual(5);
    for (const userId of users) expect(await freeEntriesOf(userId)).toHaveLength(1);
    // A second pass finds every current period granted.
    expect(
      await grantFreePlanCredits(database.db, { now: at("2031-05-03T00:00:00Z"), batchSize: 2 }),
    ).toEqual({
      granted: 0,
      skipped: 0,
    });
  });

  it("a subscriber gets no Free credits; after the subscription ends Free resumes with the next period", async () => {
    const userId = await userSince("2031-06-01T00:00:00Z");
    const [sub] = await database.db
      .insert(subscription)
      .values({
        userId,
        provider: "stripe",
        planId: "pro-monthly",
        status: "active",
        providerSubscriptionId: testId("sub"),
      })
      .returning();
    const pro = findPlan("pro-monthly");
    if (!sub || !pro) throw new Error("no subscription");
    // Pro paid for Jun 10 – Jul 10, then cancelled at the period's end.
    const paidPeriod = { start: at("2031-06-10T00:00:00Z"), end: at("2031-07-10T00:00:00Z") };
    const invoiceId = testId("in");
    await database.db.transaction(async (tx) => {
      await grantCreditPeriod(
        tx,
        {
          subscription: sub,
          invoiceId,
          providerSubscriptionId: sub.providerSubscriptionId ?? "",
          plan: pro,
          period: paidPeriod,
          paidMoney: true,
        },
        at("2031-06-10T00:00:01Z"),
      );
      // As invoice.paid does: the paid invoice is a purchase its refunds can find.
      const invoice = { id: invoiceId, amount_paid: 1900, currency: "usd" } as Stripe.Invoice;
      await recordInvoicePurchase(tx, { subscription: sub, invoice });
    });

    await runSubscriptionCredits(database.db, at("2031-06-20T00:00:00Z"));
    expect(await freeEntriesOf(userId)).toEqual([]);

    await database.db
      .update(subscription)
      .set({ status: "canceled", endedAt: paidPeriod.end, canceledAt: paidPeriod.end })
      .where(eq(subscription.id, sub.id));
    // Jul 1 – Aug 1 overlaps the paid period (until Jul 10): still no Free credits in it.
    await runSubscriptionCredits(database.db, at("2031-07-15T00:00:00Z"));
    expect(await freeEntriesOf(userId)).toEqual([]);
    // The next period, Aug 1 – Sep 1: Free again.
    await runSubscriptionCredits(database.db, at("2031-08-02T00:00:00Z"));
    expect((await freeRowsOf(userId)).map((row) => row.periodStart.toISOString())).toEqual([
      "2031-08-01T00:00:00.000Z",
    ]);
    expect((await freeEntriesOf(userId)).map((entry) => entry.amount)).toEqual([50]);
  });

  it("a subscription started but never paid does not take the Free plan away", async () => {
    const userId = await userSince("2031-09-05T00:00:00Z");
    await database.db
      .insert(subscription)
      .values({ userId, provider: "sandbox", planId: "pro-monthly", status: "checkout" });
    await runSubscriptionCredits(database.db, at("2031-09-06T00:00:00Z"));
    expect((await freeEntriesOf(userId)).map((entry) => entry.amount)).toEqual([50]);
  });

  it("verify notices a Free lot that ends elsewhere and a Free entry without its period row", async () => {
    const userId = await userSince("2031-10-03T00:00:00Z");
    await grantFreePlanCredits(database.db, { now: at("2031-10-04T00:00:00Z") });
    const [row] = await freeRowsOf(userId);
    if (!row?.lotId) throw new Error("no Free grant");
    const checksAfter = (corrupt: (tx: typeof database.db) => Promise<unknown>) =>
      database.db
        .transaction(async (tx) => {
          await corrupt(tx);
          const found = (await verifySubscriptions(tx)).map((violation) => violation.check);
          throw Object.assign(new Error("rolled back"), { found });
        })
        .catch((error: { found?: string[] }) => error.found ?? []);
    expect(
      await checksAfter((tx) =>
        tx
          .update(creditLot)
          .set({ expiresAt: at("2031-12-31T00:00:00Z") })
          .where(eq(creditLot.id, row.lotId ?? "")),
      ),
    ).toContain("free_plan_grant_recorded");
    expect(
      await checksAfter((tx) => tx.delete(freePlanGrant).where(eq(freePlanGrant.userId, userId))),
    ).toContain("free_plan_entry_has_row");
  });
});

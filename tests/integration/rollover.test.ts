import { and, eq } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findPlan, type Plan } from "../../src/catalog/plans";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { creditLot, subscription, subscriptionRollover } from "../../src/db/schema";
import { grantCreditPeriod } from "../../src/payment/subscriptions/grant-credit-period";
import { grantPendingRollovers } from "../../src/payment/subscriptions/grant-pending-rollovers";
import { recordInvoicePurchase } from "../../src/payment/subscriptions/invoice-purchase";
import type { SubscriptionRow } from "../../src/payment/subscriptions/lock-subscription";
import { rollIntoPeriod } from "../../src/payment/subscriptions/roll-into-period";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const at = (iso: string) => new Date(iso);
const P1 = { start: at("2031-03-01T00:00:00Z"), end: at("2031-04-01T00:00:00Z") };
const P2 = { start: P1.end, end: at("2031-05-01T00:00:00Z") };
const AFTER_P1 = at("2031-04-01T00:00:01Z");

function plan(id: string): Plan {
  const found = findPlan(id);
  if (!found) throw new Error(`no plan ${id}`);
  return found;
}

// The rollover rules on the grant path itself (what invoice.paid runs for each paid period), with
// plans of each policy; the sandbox's renewals cover the capped default end to end.
describe.each(databaseKinds())("rollover policies (%s)", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 10 });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function subscriptionFor(planId: string): Promise<SubscriptionRow> {
    const userId = await seedUser(database.db);
    const [row] = await database.db
      .insert(subscription)
      .values({ userId, provider: "stripe", planId, status: "active", providerSubscriptionId: testId("sub") })
      .returning();
    if (!row) throw new Error("no subscription");
    return row;
  }

  /** invoice.paid's work for one paid period: the grant, then the carry into it. */
  function payPeriod(sub: SubscriptionRow, paidPlan: Plan, period: { start: Date; end: Date }, now?: Date) {
    return database.db.transaction(async (tx) => {
      const invoiceId = testId("in");
      const granted = await grantCreditPeriod(
        tx,
        {
          subscription: sub,
          invoiceId,
          providerSubscriptionId: sub.providerSubscriptionId ?? "",
          plan: paidPlan,
          period,
          paidMoney: true,
        },
        now,
      );
      const rolled = await rollIntoPeriod(tx, sub, period, now);
      // The paid invoice becomes a purchase, as invoice.paid records it (refunds find its credits there).
      const invoice = { id: invoiceId, amount_paid: 1900, currency: "usd" } as Stripe.Invoice;
      await recordInvoicePurchase(tx, { subscription: sub, invoice });
      return { granted, rolled };
    });
  }

  const rolloversOf = (sub: SubscriptionRow) =>
    database.db.select().from(subscriptionRollover).where(eq(subscriptionRollover.subscriptionId, sub.id));

  it("none: the period's credits end with it and nothing carries (the free plan)", async () => {
    const sub = await subscriptionFor("free");
    await payPeriod(sub, plan("free"), P1);
    expect(await payPeriod(sub, plan("free"), P2, AFTER_P1)).toEqual({
      granted: "granted",
      rolled: "no_rollover",
    });
    expect(await rolloversOf(sub)).toEqual([]);
    expect((await getBalance(database.db, sub.userId, AFTER_P1)).balance).toBe(50);
  });

  it("unlimited: period credits never expire, so there is nothing to carry", async () => {
    const sub = await subscriptionFor("unlimited-test");
    const unlimited: Plan = {
      ...plan("pro-monthly"),
      id: "unlimited-test",
      rollover: { policy: "unlimited" },
    };
    await payPeriod(sub, unlimited, P1);
    const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.userId, sub.userId));
    expect(lot).toMatchObject({ credits: 1000, expiresAt: null });
    // Long after the period ended, its credits are still there to spend.
    const later = at("2032-01-01T00:00:00Z");
    await consumeCredits(
      database.db,
      { userId: sub.userId, amount: 400, description: "work", idempotencyKey: "w1" },
      later,
    );
    expect((await getBalance(database.db, sub.userId, later)).balance).toBe(600);
  });

  it("capped: a carry waits (pending) while the ending period's credits are alive, then the job grants it once", async () => {
    const sub = await subscriptionFor("pro-monthly");
    await payPeriod(sub, plan("pro-monthly"), P1);
    // The next period paid before the first ended (an early invoice): its unspent credits are not known yet.
    expect(await payPeriod(sub, plan("pro-monthly"), P2)).toEqual({ granted: "granted", rolled: "pending" });
    expect(await rolloversOf(sub)).toEqual([expect.objectContaining({ status: "pending", credits: null })]);

    await consumeCredits(database.db, {
      userId: sub.userId,
      amount: 250,
      description: "work",
      idempotencyKey: "w1",
    });
    // Spending drew the soonest-expiring credits (the first period's): 750 of them will expire unused.
    expect(await grantPendingRollovers(database.db, { now: AFTER_P1 })).toEqual({ settled: 1 });
    expect(await grantPendingRollovers(database.db, { now: AFTER_P1 })).toEqual({ settled: 0 });
    expect(await rolloversOf(sub)).toEqual([
      expect.objectContaining({ status: "granted", credits: 750, cap: 1000 }),
    ]);
    const carried = await database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, sub.userId), eq(creditLot.source, "rollover")));
    expect(carried).toEqual([expect.objectContaining({ credits: 750, expiresAt: P2.end })]);
    expect((await getBalance(database.db, sub.userId, AFTER_P1)).balance).toBe(1750);
  });

  it.runIf(kind === "postgres")(
    "three job runs at once grant a pending carry once (PostgreSQL)",
    async () => {
      const sub = await subscriptionFor("pro-monthly");
      await payPeriod(sub, plan("pro-monthly"), P1);
      await payPeriod(sub, plan("pro-monthly"), P2);
      const runs = await Promise.all(
        Array.from({ length: 3 }, () => grantPendingRollovers(database.db, { now: AFTER_P1 })),
      );
      expect(await rolloversOf(sub)).toEqual([expect.objectContaining({ status: "granted", credits: 1000 })]);
      expect(runs.reduce((sum, run) => sum + run.settled, 0)).toBeGreaterThanOrEqual(1);
      expect((await getBalance(database.db, sub.userId, AFTER_P1)).balance).toBe(2000);
    },
  );
});

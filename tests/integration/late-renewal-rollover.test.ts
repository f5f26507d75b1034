import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { creditLot, subscriptionRollover } from "../../src/db/schema";
import { grantPendingRollovers } from "../../src/payment/subscriptions/grant-pending-rollovers";
import { assertLedgerInvariants } from "../support/invariants";
import { configureServerEnv } from "../support/server-env";
import { invoiceLineObject, invoiceObject, stripeEventPayload, testId } from "../support/stripe-events";
import {
  deliverSignedPayload,
  insertStripePlanPrices,
  seedStripeSubscription,
} from "../support/stripe-subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// A renewal invoice paid late: period N's invoice.paid applied after period N+1's was already granted
// (a failed renewal retried, or its event delivered late). The carry of unspent credits runs from each
// period into the next exactly once, whichever invoice was applied first.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const PRO_PRICE = testId("price");
const at = (iso: string) => new Date(iso);
// Periods ahead of the real clock, so each invoice grants its period whenever it is applied.
const P1 = { start: at("2032-03-01T00:00:00Z"), end: at("2032-04-01T00:00:00Z") };
const P2 = { start: P1.end, end: at("2032-05-01T00:00:00Z") };
const P3 = { start: P2.end, end: at("2032-06-01T00:00:00Z") };
const AFTER_P1 = at("2032-04-01T00:00:01Z");
const AFTER_P2 = at("2032-05-01T00:00:01Z");

/** Delivers a signed payload; what these tests read is the handler's outcome. */
const deliver = async (payload: string) => {
  const { status, body } = await deliverSignedPayload(payload);
  return { status, outcome: body.outcome };
};

describe.each(databaseKinds())("a late renewal invoice and the rollover carry (%s)", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    await insertStripePlanPrices(database.db, [{ priceId: PRO_PRICE, planId: "pro-monthly" }]);
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function proSubscriber() {
    const { userId, customer, providerSubscriptionId, row } = await seedStripeSubscription(database.db);
    const paid = (period: { start: Date; end: Date }) => {
      const id = testId("in");
      return stripeEventPayload(
        "invoice.paid",
        invoiceObject({
          id,
          customer,
          subscription: providerSubscriptionId,
          subscriptionMetadata: { subscriptionId: row.id, userId },
          amountPaid: 1900,
          lines: [
            invoiceLineObject({
              invoice: id,
              subscription: providerSubscriptionId,
              price: PRO_PRICE,
              amount: 1900,
              period,
            }),
          ],
        }),
      );
    };
    return { userId, row, paid };
  }

  const carriesOf = (subscriptionId: string) =>
    database.db
      .select()
      .from(subscriptionRollover)
      .where(eq(subscriptionRollover.subscriptionId, subscriptionId))
      .orderBy(subscriptionRollover.intoStart);
  const carriedLots = (userId: string) =>
    database.db
      .select()
      .from(creditLot)
      .where(and(eq(creditLot.userId, userId), eq(creditLot.source, "rollover")));

  it("period 2 paid after period 3 was granted: period 1 carries into 2 and period 2 into 3, each once", async () => {
    const sub = await proSubscriber();
    expect((await deliver(sub.paid(P1))).outcome).toBe("granted");
    await consumeCredits(database.db, {
      userId: sub.userId,
      amount: 300,
      description: "work",
      idempotencyKey: testId("w"),
    });
    const thirdInvoice = sub.paid(P3);
    expect((await deliver(thirdInvoice)).outcome).toBe("granted");
    // Period 2's renewal, retried and paid after period 3's: granted, and its carries both ways recorded.
    const lateInvoice = sub.paid(P2);
    expect((await deliver(lateInvoice)).status).toBe(200);
    // Delivered again (Stripe's retry, a new event id), and period 3's again: nothing more.
    await deliver(lateInvoice.replace(/"id":"evt_[^"]+"/, `"id":"${testId("evt")}"`));
    await deliver(thirdInvoice.replace(/"id":"evt_[^"]+"/, `"id":"${testId("evt")}"`));
    expect(await carriesOf(sub.row.id)).toEqual([
      expect.objectContaining({ intoStart: P2.start, status: "pending" }),
      expect.objectContaining({ intoStart: P3.start, status: "pending" }),
    ]);

    // Period 1 ends with 700 unspent: they carry into period 2.
    await grantPendingRollovers(database.db, { now: AFTER_P1 });
    // Period 2 ends with its 1,000 and the 700 carried unspent: its own 1,000 (the cap) carry into 3.
    await grantPendingRollovers(database.db, { now: AFTER_P2 });
    await grantPendingRollovers(database.db, { now: AFTER_P2 });
    expect(await carriesOf(sub.row.id)).toEqual([
      expect.objectContaining({ intoStart: P2.start, status: "granted", credits: 700 }),
      expect.objectContaining({ intoStart: P3.start, status: "granted", credits: 1000 }),
    ]);
    expect(await carriedLots(sub.userId)).toHaveLength(2);
    // Period 3's own 1,000 and the 1,000 carried into it.
    expect((await getBalance(database.db, sub.userId, AFTER_P2)).balance).toBe(2000);
  });

  it("the late invoice delivered twice at once while period 3 is granted: one carry into each period", async () => {
    const sub = await proSubscriber();
    await deliver(sub.paid(P1));
    const late = sub.paid(P2);
    await Promise.all([deliver(sub.paid(P3)), deliver(late), deliver(late)]);
    // Whatever was refused while another delivery held the subscription is retried, as Stripe does.
    await deliver(late.replace(/"id":"evt_[^"]+"/, `"id":"${testId("evt")}"`));
    const carries = await carriesOf(sub.row.id);
    expect(carries.map((carry) => carry.intoStart)).toEqual([P2.start, P3.start]);
    await grantPendingRollovers(database.db, { now: AFTER_P1 });
    await grantPendingRollovers(database.db, { now: AFTER_P2 });
    expect((await carriesOf(sub.row.id)).map((carry) => carry.credits)).toEqual([1000, 1000]);
    expect(await carriedLots(sub.userId)).toHaveLength(2);
  });
});

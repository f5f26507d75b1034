import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { releaseExpiredHolds } from "../../src/credits/release-expired-holds";
import { releaseHold } from "../../src/credits/release-hold";
import { creditAllocation, creditEntry } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { entriesOf } from "../support/rows";
import { seedUser } from "../support/seed";
import { paymentIntentObject, signPayload, stripeEventPayload, testId } from "../support/stripe-events";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const SECRET = "whsec_hold_debt_tests";

/**
 * Credits that come back from a hold (release, the rest of a capture, expiry past the time-to-live) repay
 * outstanding debt first, like a grant: otherwise a refund that found the credits reserved leaves them
 * spendable once the hold lets go, and the customer spends what they were paid back for.
 */
describe.each(databaseKinds())("credits coming back from holds repay debt on %s", (kind) => {
  const database = useTestDatabase(kind);

  async function hold(userId: string, amount: number, key = "h", ttlSeconds?: number, now?: Date) {
    const result = await createHold(
      database.db,
      { userId, amount, description: "render", idempotencyKey: key, ...(ttlSeconds ? { ttlSeconds } : {}) },
      now,
    );
    if (!result.ok) throw new Error("hold refused");
    return result.holdId;
  }

  async function purchaseLot(userId: string, amount: number, now?: Date) {
    return addCredits(
      database.db,
      { userId, amount, type: "purchase", description: "Purchased", idempotencyKey: `buy-${amount}` },
      now,
    );
  }

  async function refundAll(userId: string, amount: number, lotId: string, now?: Date) {
    return clawBackCredits(
      database.db,
      {
        userId,
        amount,
        type: "refund",
        description: "Refunded",
        idempotencyKey: "refund",
        preferLotIds: [lotId],
      },
      now,
    );
  }

  async function spendOne(userId: string, key: string) {
    return consumeCredits(database.db, { userId, amount: 1, description: "x", idempotencyKey: key });
  }

  it("purchase 500, hold 500, full refund by webhook, release: the debt is repaid and nothing is spendable", async () => {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const metadata = { purchaseId: created.purchaseId, userId, packageId: "standard" };
    const deliver = (type: string, object: Record<string, unknown>) => {
      const rawBody = stripeEventPayload(type, object, testId("evt"));
      return receiveWebhook(database.db, {
        rawBody,
        signature: signPayload(rawBody, SECRET),
        secret: SECRET,
      });
    };
    await deliver(
      "payment_intent.succeeded",
      paymentIntentObject({ id: created.paymentIntentId, amount: 3999, currency: "usd", metadata }),
    );
    const holdId = await hold(userId, 500);
    await deliver("charge.refunded", {
      id: `ch_for_${created.paymentIntentId}`,
      object: "charge",
      amount: 3999,
      amount_refunded: 3999,
      currency: "usd",
      payment_intent: created.paymentIntentId,
      refunded: true,
    });
    expect(await getBalance(database.db, userId)).toEqual({
      balance: 500,
      held: 500,
      available: 0,
      debt: 500,
    });

    const released = await releaseHold(database.db, { holdId });
    expect(released).toMatchObject({ status: "released", returned: 500, balance: 0, available: 0 });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 0 });
    expect(await spendOne(userId, "after")).toMatchObject({ ok: false, reason: "insufficient_credits" });

    const entries = await entriesOf(database.db, userId);
    expect(entries.map((e) => [e.type, e.amount, e.debtChange, e.balanceAfter])).toEqual([
      ["purchase", 500, 0, 500],
      ["refund", 0, 500, 500],
      ["debt_repayment", -500, -500, 0],
    ]);
    const repayment = entries.at(-1);
    expect(repayment?.idempotencyKey).toBe(`creditkit/hold-release:${holdId}:debt-repayment`);
    const drawn = await database.db
      .select()
      .from(creditAllocation)
      .where(eq(creditAllocation.entryId, repayment?.id ?? 0));
    expect(drawn.map((d) => d.amount)).toEqual([500]);

    // Releasing again replays: no second repayment.
    expect(await releaseHold(database.db, { holdId })).toMatchObject({ replayed: true, status: "released" });
    expect((await entriesOf(database.db, userId)).filter((e) => e.type === "debt_repayment")).toHaveLength(1);
  });

  it("the rest of a partial capture repays the debt first", async () => {
    const userId = await seedUser(database.db);
    const lot = await purchaseLot(userId, 500);
    const holdId = await hold(userId, 500);
    await refundAll(userId, 500, lot.lotId);
    expect(await getBalance(database.db, userId)).toMatchObject({ available: 0, debt: 500 });

    const captured = await captureHold(database.db, { holdId, amount: 200 });
    expect(captured).toMatchObject({ status: "captured", captured: 200, returned: 300, balance: 0 });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 200 });
    const entries = await entriesOf(database.db, userId);
    expect(entries.slice(-2).map((e) => [e.type, e.amount, e.balanceAfter, e.idempotencyKey])).toEqual([
      ["consume", -200, 300, `creditkit/hold-capture:${holdId}`],
      ["debt_repayment", -300, 0, `creditkit/hold-capture:${holdId}:debt-repayment`],
    ]);
  });

  it("a hold past its time-to-live, closed by the sweep or by a late capture, repays the debt first", async () => {
    const start = new Date("2031-05-01T00:00:00Z");
    const later = new Date(start.getTime() + 120_000);
    for (const closer of ["sweep", "capture"] as const) {
      const userId = await seedUser(database.db);
      const lot = await purchaseLot(userId, 100, start);
      const holdId = await hold(userId, 80, `h-${closer}`, 60, start);
      await refundAll(userId, 100, lot.lotId, start);
      expect(await getBalance(database.db, userId, start)).toEqual({
        balance: 80,
        held: 80,
        available: 0,
        debt: 80,
      });
      if (closer === "sweep") {
        expect((await releaseExpiredHolds(database.db, later)).released).toBeGreaterThanOrEqual(1);
      } else {
        await expect(captureHold(database.db, { holdId }, later)).rejects.toMatchObject({
          code: "hold_not_open",
        });
      }
      expect(await getBalance(database.db, userId, later), closer).toEqual({
        balance: 0,
        held: 0,
        available: 0,
        debt: 0,
      });
      const [repayment] = await database.db
        .select()
        .from(creditEntry)
        .where(and(eq(creditEntry.userId, userId), eq(creditEntry.type, "debt_repayment")));
      expect(repayment).toMatchObject({
        amount: -80,
        idempotencyKey: `creditkit/hold-expire:${holdId}:debt-repayment`,
      });
    }
  });

  it("a refund that left reserved credits alone: release repays what it can, the next grant the rest", async () => {
    const userId = await seedUser(database.db);
    const lot = await purchaseLot(userId, 100);
    const holdId = await hold(userId, 80);
    await consumeCredits(database.db, { userId, amount: 20, description: "work", idempotencyKey: "w" });
    await refundAll(userId, 100, lot.lotId);
    expect(await getBalance(database.db, userId)).toEqual({ balance: 80, held: 80, available: 0, debt: 100 });

    await releaseHold(database.db, { holdId });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 20 });
    expect(await spendOne(userId, "s1")).toMatchObject({ ok: false });

    const grant = await addCredits(database.db, {
      userId,
      amount: 50,
      type: "grant",
      description: "bonus",
      idempotencyKey: "bonus",
    });
    expect(grant.balance).toBe(30);
    expect(await getBalance(database.db, userId)).toEqual({ balance: 30, held: 0, available: 30, debt: 0 });
  });

  it("while a user owes credits, a hold that comes back leaves nothing spendable, whatever other holds do", async () => {
    const userId = await seedUser(database.db);
    const lot = await purchaseLot(userId, 300);
    const first = await hold(userId, 100, "a");
    const second = await hold(userId, 150, "b");
    await refundAll(userId, 300, lot.lotId);
    // 50 were free and taken back; 250 are reserved, so 250 became debt.
    expect(await getBalance(database.db, userId)).toEqual({
      balance: 250,
      held: 250,
      available: 0,
      debt: 250,
    });
    await captureHold(database.db, { holdId: first, amount: 40 });
    expect(await getBalance(database.db, userId)).toEqual({
      balance: 150,
      held: 150,
      available: 0,
      debt: 190,
    });
    await releaseHold(database.db, { holdId: second });
    expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 40 });
  });
});

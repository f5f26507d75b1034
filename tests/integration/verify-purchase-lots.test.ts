import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { creditLot, sandboxPaymentIntent } from "../../src/db/schema";
import { runPaymentMaintenance } from "../../src/jobs/run-payment-maintenance";
import { runSweep } from "../../src/jobs/run-sweep";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { seedUser } from "../support/seed";
import { chargeObject, disputeObject, paymentIntentObject, testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const PRICE = 3999;

/**
 * `verify` catches the faults of the money paths on a ledger written the way the code before the fixes
 * wrote it (a refund that took expired credits again, credits given back without their expiry, a paid
 * sandbox purchase nobody granted), and passes on the ledger the same steps write now. Old writes are
 * reproduced with the ledger's own operations, since the code that chose them is gone.
 */
describe.each(databaseKinds())("verify: purchase credits on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function checksOf(userId: string) {
    return (await verifyLedger(database.db)).violations
      .filter((v) => v.userId === userId)
      .map((v) => v.check);
  }

  /** A Standard purchase (500 credits), paid through its webhook; its lot expires in `expiresInSeconds`. */
  async function paidPurchase(expiresInSeconds: number) {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const pi = created.paymentIntentId;
    const t0 = Math.floor(Date.now() / 1000) - 3600;
    const send = (type: string, object: Record<string, unknown>, created: number) =>
      processWebhookEvent(database.db, {
        id: testId("evt"),
        object: "event",
        type,
        created,
        data: { object },
      } as unknown as Stripe.Event);
    await send(
      "payment_intent.succeeded",
      paymentIntentObject({
        id: pi,
        amount: PRICE,
        currency: "usd",
        metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
      }),
      t0,
    );
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = now() + make_interval(secs => ${expiresInSeconds})
          WHERE purchase_id = ${created.purchaseId} AND source = 'purchase'`,
    );
    const dispute = (type: string, status: string, at: number) =>
      send(
        type,
        disputeObject({
          id: `dp_${pi}`,
          amount: PRICE,
          currency: "usd",
          charge: `ch_${pi}`,
          payment_intent: pi,
          status,
        }),
        at,
      );
    return { userId, purchaseId: created.purchaseId, paymentIntentId: pi, t0, dispute, send };
  }

  it("flags a refund that took a purchase's expired credits again", async () => {
    const old = await paidPurchase(-60);
    // What a full refund wrote before: the expiry first, then all 500 credits again, as debt.
    await clawBackCredits(database.db, {
      userId: old.userId,
      amount: 500,
      type: "refund",
      description: "Refund of Standard package",
      idempotencyKey: "old-refund",
      reference: old.paymentIntentId,
    });
    expect(await checksOf(old.userId)).toContain("purchase_credits_leave_once");
  });

  it("flags credits given back without the purchase's expiry, and not those given back now", async () => {
    const old = await paidPurchase(3600);
    await old.dispute("charge.dispute.funds_withdrawn", "needs_response", old.t0 + 10);
    // What a won dispute wrote before: a lot that never expires.
    await addCredits(database.db, {
      userId: old.userId,
      amount: 500,
      type: "dispute_reversal",
      description: "Dispute won",
      idempotencyKey: "old-reversal",
      reference: old.paymentIntentId,
      purchaseId: old.purchaseId,
    });
    expect(await checksOf(old.userId)).toContain("reinstated_credits_keep_expiry");

    const now = await paidPurchase(3600);
    await now.dispute("charge.dispute.funds_withdrawn", "needs_response", now.t0 + 10);
    await now.dispute("charge.dispute.closed", "won", now.t0 + 20);
    expect(await checksOf(now.userId)).toEqual([]);
    const lots = await database.db
      .select({ source: creditLot.source, expiresAt: creditLot.expiresAt })
      .from(creditLot)
      .where(eq(creditLot.purchaseId, now.purchaseId));
    expect(lots).toHaveLength(2);
    expect(lots[0]?.expiresAt?.getTime()).toBe(lots[1]?.expiresAt?.getTime());
  });

  it("gives back credits whose expiry has passed to the debt they left, and expires the rest at once", async () => {
    const p = await paidPurchase(3600);
    // 300 of the 500 credits are spent; the dispute takes back the 200 left and leaves a debt of 300.
    await consumeCredits(database.db, {
      userId: p.userId,
      amount: 300,
      description: "work",
      idempotencyKey: "spend",
    });
    await p.dispute("charge.dispute.funds_withdrawn", "needs_response", p.t0 + 10);
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = clock_timestamp() WHERE purchase_id = ${p.purchaseId}`,
    );
    await p.dispute("charge.dispute.closed", "won", p.t0 + 20);
    // The merchant keeps the money: the debt for the 300 spent credits is cancelled; the 200 had expired.
    expect(await getBalance(database.db, p.userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 0 });
    expect(await checksOf(p.userId)).toEqual([]);
  });

  it("flags credits given back after their expiry that paid another purchase's debt", async () => {
    const old = await paidPurchase(3600);
    // Its 500 credits are unused: the dispute takes all of them and leaves no debt.
    await old.dispute("charge.dispute.funds_withdrawn", "needs_response", old.t0 + 10);
    // Another purchase's refund, of credits already spent, leaves a debt of 200.
    await clawBackCredits(database.db, {
      userId: old.userId,
      amount: 200,
      type: "refund",
      description: "Refund of Basic package",
      idempotencyKey: "other-refund",
      reference: "pi_other",
    });
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = clock_timestamp() WHERE purchase_id = ${old.purchaseId}`,
    );
    const [lot] = await database.db
      .select({ expiresAt: creditLot.expiresAt })
      .from(creditLot)
      .where(eq(creditLot.purchaseId, old.purchaseId));
    // What a won dispute wrote before: the expired credits repaid any debt, here the other purchase's.
    await addCredits(
      database.db,
      {
        userId: old.userId,
        amount: 500,
        type: "dispute_reversal",
        description: "Dispute won",
        idempotencyKey: "old-expired-reversal",
        ...(lot?.expiresAt ? { expiresAt: lot.expiresAt } : {}),
        reference: old.paymentIntentId,
        purchaseId: old.purchaseId,
      },
      undefined,
      { expiredRepayLimit: 500 },
    );
    expect(await getBalance(database.db, old.userId)).toMatchObject({ balance: 0, debt: 0 });
    expect(await checksOf(old.userId)).toContain("expired_reinstatement_repays_own_debt");
  });

  it("cancels the debt a refund left for held credits once they expire unused", async () => {
    const p = await paidPurchase(3600);
    const hold = await createHold(database.db, {
      userId: p.userId,
      amount: 500,
      description: "job",
      idempotencyKey: "hold",
    });
    if (!hold.ok) throw new Error("hold refused");
    // Refunded in full while every credit is reserved: nothing can be taken, the customer owes 500.
    await p.send(
      "charge.refunded",
      chargeObject({
        id: `ch_${p.paymentIntentId}`,
        amount: PRICE,
        currency: "usd",
        payment_intent: p.paymentIntentId,
        amount_refunded: PRICE,
      }),
      p.t0 + 10,
    );
    expect(await getBalance(database.db, p.userId)).toMatchObject({ balance: 500, held: 500, debt: 500 });
    // The purchase's lot expires with the hold's credits in it: they were never used.
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = clock_timestamp() WHERE purchase_id = ${p.purchaseId}`,
    );

    await runSweep(database.db);

    expect(await getBalance(database.db, p.userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 0 });
    expect(await checksOf(p.userId)).toEqual([]);
  });

  it("flags a paid sandbox purchase nobody granted, until maintenance grants it", async () => {
    const userId = await seedUser(database.db);
    const sandbox = new SandboxPaymentProvider(database.db, "whsec_verify_lots");
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "basic" });
    // Paid; its event was lost.
    await database.db
      .update(sandboxPaymentIntent)
      .set({ status: "succeeded", updatedAt: new Date() })
      .where(eq(sandboxPaymentIntent.id, created.paymentIntentId));
    expect(await checksOf(userId)).toContain("sandbox_payment_granted");

    await runPaymentMaintenance(database.db, sandbox);

    expect(await checksOf(userId)).toEqual([]);
  });
});

import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { seedUser } from "../support/seed";
import { chargeObject, disputeObject, paymentIntentObject, testId } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const PRICE = 3999;

/**
 * Credits a won dispute gives back keep the purchase's expiry, and come back already expired when that time
 * has passed. Expired credits are worth nothing: they may cancel the debt their own purchase's clawback
 * left (credits spent before they expired), but not pay what the customer owes for another purchase.
 */
describe.each(databaseKinds())("credits given back after their expiry on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterEach(async () => {
    expect((await verifyLedger(database.db)).violations).toEqual([]);
  });
  afterAll(async () => {
    await database?.close();
  });

  const send = (type: string, object: Record<string, unknown>, created: number) =>
    processWebhookEvent(database.db, {
      id: testId("evt"),
      object: "event",
      type,
      created,
      data: { object },
    } as unknown as Stripe.Event);

  /** A Standard purchase (500 credits for 3999 cents) of `userId`, paid through its webhook. */
  async function paid(userId: string) {
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const pi = created.paymentIntentId;
    const t0 = Math.floor(Date.now() / 1000) - 3600;
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
    return {
      purchaseId: created.purchaseId,
      t0,
      dispute: (type: string, status: string, at: number) =>
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
        ),
      refundedInFull: (at: number) =>
        send(
          "charge.refunded",
          chargeObject({
            id: `ch_${pi}`,
            amount: PRICE,
            currency: "usd",
            payment_intent: pi,
            amount_refunded: PRICE,
          }),
          at,
        ),
    };
  }

  // settlePurchaseClawback gives A's credits back through addCredits with A's expiry. Once that time has
  // passed, creditkit_add_credits used to repay *any* debt with them before expiring the rest, so expired
  // credits paid the 500 B's refund left (debt 500 -> 0: 500 credits given away). They may only cancel the
  // debt A's own clawbacks left (credits of A spent before they expired, as in verify-purchase-lots "gives
  // back credits whose expiry has passed to the debt they left"): purchaseOutstandingDebt reads it from the
  // ledger and the grant repays no more (p_expired_repay_limit, migration 0012).
  // B's 500 credits are spent, A's 500 are never used and expire. A is disputed (its credits taken back)
  // and B refunded after A's expiry: the customer owes B's 500. A's dispute is then won: A's credits come
  // back already expired, since they would have expired unused. Had A never been disputed, they would have
  // expired at their time and B's refund would have left the same debt of 500.
  it("do not pay the debt another purchase's refund left", async () => {
    const userId = await seedUser(database.db);
    const b = await paid(userId);
    await consumeCredits(database.db, {
      userId,
      amount: 500,
      description: "work",
      idempotencyKey: "spend-b",
    });
    const a = await paid(userId);
    await database.db.execute(
      sql`UPDATE credit_lot SET expires_at = clock_timestamp() + interval '2 seconds'
          WHERE purchase_id = ${a.purchaseId} AND source = 'purchase'`,
    );
    await a.dispute("charge.dispute.funds_withdrawn", "needs_response", a.t0 + 10);
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 0, debt: 0 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await b.refundedInFull(b.t0 + 20);
    expect(await getBalance(database.db, userId)).toMatchObject({ balance: 0, debt: 500 });

    await a.dispute("charge.dispute.closed", "won", a.t0 + 30);

    expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 500 });
  });
});

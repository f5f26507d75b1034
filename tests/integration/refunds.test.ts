import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { getBalance } from "../../src/credits/get-balance";
import { listTransactions } from "../../src/credits/list-transactions";
import { creditPurchase } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { seedUser } from "../support/seed";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { databaseKinds, useTestDatabase } from "../support/test-database";

const SECRET = "whsec_refund_tests";

describe.each(databaseKinds())("refunds and disputes on %s", (kind) => {
  const database = useTestDatabase(kind);

  type Purchase = {
    userId: string;
    purchaseId: string;
    paymentIntentId: string;
    metadata: Record<string, string>;
  };

  /** A pending Standard purchase (500 credits for 3999 cents). */
  async function startPurchase(): Promise<Purchase> {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    return {
      userId,
      purchaseId: created.purchaseId,
      paymentIntentId: created.paymentIntentId,
      metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
    };
  }

  async function deliver(
    type: string,
    object: Record<string, unknown>,
    eventId = testId("evt"),
    created?: number,
  ) {
    const rawBody = stripeEventPayload(type, object, eventId, created);
    return receiveWebhook(database.db, { rawBody, signature: signPayload(rawBody, SECRET), secret: SECRET });
  }

  const succeeded = (p: Purchase) =>
    deliver(
      "payment_intent.succeeded",
      paymentIntentObject({ id: p.paymentIntentId, amount: 3999, currency: "usd", metadata: p.metadata }),
    );
  /** `created`: the event's time in seconds; later events carry later times, as at Stripe. */
  const refunded = (p: Purchase, amountRefunded: number, eventId?: string, created?: number) =>
    deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_for_${p.paymentIntentId}`,
        amount: 3999,
        amount_refunded: amountRefunded,
        currency: "usd",
        payment_intent: p.paymentIntentId,
      }),
      eventId,
      created,
    );
  const dispute = (p: Purchase, type: string, status: string, created?: number) =>
    deliver(
      type,
      disputeObject({
        id: `dp_for_${p.paymentIntentId}`,
        amount: 3999,
        currency: "usd",
        charge: `ch_for_${p.paymentIntentId}`,
        payment_intent: p.paymentIntentId,
        status,
      }),
      undefined,
      created,
    );

  async function state(userId: string, purchaseId: string) {
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.id, purchaseId));
    return { ...(await getBalance(database.db, userId)), clawedBack: purchase?.clawedBackCredits };
  }

  it("a full refund takes back every credit of an unspent purchase", async () => {
    const p = await startPurchase();
    await succeeded(p);
    await refunded(p, 3999);
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 0, debt: 0, clawedBack: 500 });
    const history = await listTransactions(database.db, { userId: p.userId });
    expect(history.items[0]).toMatchObject({ type: "refund", amount: -500 });
  });

  it("a partial refund takes back the refunded share, and each refund is applied once", async () => {
    const p = await startPurchase();
    await succeeded(p);
    const eventId = testId("evt");
    const t = Math.floor(Date.now() / 1000) - 60;
    await refunded(p, 1000, eventId, t); // 1000/3999 of 500 credits = 125 (rounded down)
    await refunded(p, 1000, eventId, t); // the same event again
    await refunded(p, 1000, undefined, t + 1); // the same cumulative amount in another event
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 375, clawedBack: 125 });
    await refunded(p, 3999, undefined, t + 2); // then the rest
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 0, clawedBack: 500 });
    await refunded(p, 1000, undefined, t + 1); // a late, older event changes nothing
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 0, clawedBack: 500 });
  });

  it("credits already spent become a debt, shown on the balance and repaid first from the next grant", async () => {
    const p = await startPurchase();
    await succeeded(p);
    await consumeCredits(database.db, {
      userId: p.userId,
      amount: 400,
      description: "work",
      idempotencyKey: "w",
    });
    await refunded(p, 3999);
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 0, debt: 400, clawedBack: 500 });

    const grant = await addCredits(database.db, {
      userId: p.userId,
      amount: 1000,
      type: "grant",
      description: "bonus",
      idempotencyKey: "bonus",
    });
    expect(grant.balance).toBe(600);
    expect(await getBalance(database.db, p.userId)).toMatchObject({ balance: 600, debt: 0 });
  });

  it("takes from the purchase's own lot first, then from other lots", async () => {
    const p = await startPurchase();
    await addCredits(database.db, {
      userId: p.userId,
      amount: 100,
      type: "grant",
      description: "gift",
      idempotencyKey: "g",
    });
    await succeeded(p);
    await consumeCredits(database.db, {
      userId: p.userId,
      amount: 550,
      description: "work",
      idempotencyKey: "w",
    });
    // 50 left: the gift lot (never expiring, older) and the purchase lot were both drawn; a full refund of
    // 500 takes what is left (50) and the remaining 450 becomes debt.
    await refunded(p, 3999);
    expect(await getBalance(database.db, p.userId)).toMatchObject({ balance: 0, debt: 450 });
  });

  it("a refund that arrives before the payment converges to the same state as the normal order", async () => {
    const early = await startPurchase();
    await refunded(early, 3999);
    expect(await state(early.userId, early.purchaseId)).toMatchObject({ balance: 0, clawedBack: 0 });
    await succeeded(early);
    const normal = await startPurchase();
    await succeeded(normal);
    await refunded(normal, 3999);
    const a = await state(early.userId, early.purchaseId);
    const b = await state(normal.userId, normal.purchaseId);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ balance: 0, debt: 0, clawedBack: 500 });
  });

  it("a lost dispute claws back; a won dispute gives the credits back; inquiries change nothing", async () => {
    const p = await startPurchase();
    await succeeded(p);
    const t = Math.floor(Date.now() / 1000) - 60;
    await dispute(p, "charge.dispute.created", "warning_needs_response", t);
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 500, clawedBack: 0 });
    await dispute(p, "charge.dispute.funds_withdrawn", "needs_response", t + 1);
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 0, clawedBack: 500 });
    await dispute(p, "charge.dispute.closed", "won", t + 2);
    expect(await state(p.userId, p.purchaseId)).toMatchObject({ balance: 500, debt: 0, clawedBack: 0 });
    const types = (await listTransactions(database.db, { userId: p.userId })).items.map((item) => item.type);
    expect(types).toEqual(["dispute_reversal", "dispute", "purchase"]);
  });

  it("a dispute of spent credits leaves a debt that winning the dispute cancels", async () => {
    const p = await startPurchase();
    await succeeded(p);
    await consumeCredits(database.db, {
      userId: p.userId,
      amount: 500,
      description: "all",
      idempotencyKey: "all",
    });
    const t = Math.floor(Date.now() / 1000) - 60;
    await dispute(p, "charge.dispute.created", "needs_response", t);
    expect(await getBalance(database.db, p.userId)).toMatchObject({ balance: 0, debt: 500 });
    await dispute(p, "charge.dispute.funds_reinstated", "under_review", t + 1);
    expect(await getBalance(database.db, p.userId)).toMatchObject({ balance: 0, debt: 0 });
  });
});

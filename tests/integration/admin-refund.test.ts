import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { getBalance } from "../../src/credits/get-balance";
import { listTransactions } from "../../src/credits/list-transactions";
import { auditLog, creditPurchase, sandboxPaymentIntent } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { createStripeClient } from "../../src/payment/stripe/stripe-client";
import { StripePaymentProvider } from "../../src/payment/stripe/stripe-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { assertLedgerInvariants } from "../support/invariants";
import { purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { paymentIntentObject, signPayload, stripeEventPayload } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_admin_refund_tests";
const STRIPE_KEY = "sk_test_admin_refund";
const CARDS = { succeeds: "4242 4242 4242 4242", declined: "4000 0000 0000 0002" } as const;

describe.each(databaseKinds())("an admin refunds a purchase on %s", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
    const adminId = await seedUser(database.db, { email: "ops@example.test", role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  // `verify` after every test: a test can pass and still leave the ledger inconsistent.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  /** A Standard purchase (500 credits for 3999 cents), paid in the sandbox with the given card. */
  async function sandboxPurchase(card: string | null = CARDS.succeeds) {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "standard" });
    if (card) {
      await confirmSandboxPayment(database.db, {
        paymentIntentId: created.paymentIntentId,
        userId,
        cardNumber: card,
        webhookSecret: WEBHOOK_SECRET,
      });
    }
    return { userId, ...created };
  }

  async function customer(userId: string, purchaseId: string) {
    const purchase = await purchaseRow(database.db, purchaseId);
    return {
      balance: (await getBalance(database.db, userId)).balance,
      amountRefunded: purchase.amountRefunded,
      clawedBackCredits: purchase.clawedBackCredits,
    };
  }

  async function refundAudits(userId: string) {
    return database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetUserId, userId), eq(auditLog.action, "purchase.refund_requested")));
  }

  const refund = (purchaseId: string, amount?: number) =>
    refundPurchase(
      database.db,
      sandbox,
      { purchaseId, reason: "customer asked", ...(amount !== undefined ? { amount } : {}) },
      admin,
    );

  describe("in the sandbox", () => {
    it("a full refund takes every credit of the package back and is recorded with who asked", async () => {
      const paid = await sandboxPurchase();
      expect(await customer(paid.userId, paid.purchaseId)).toEqual({
        balance: 500,
        amountRefunded: 0,
        clawedBackCredits: 0,
      });

      const result = await refund(paid.purchaseId);

      expect(result).toEqual({ refundId: expect.stringMatching(/^re_sbx_/) });
      expect(await customer(paid.userId, paid.purchaseId)).toEqual({
        balance: 0,
        amountRefunded: 3999,
        clawedBackCredits: 500,
      });
      const history = await listTransactions(database.db, { userId: paid.userId });
      expect(history.items.map(({ type, amount, balanceAfter }) => ({ type, amount, balanceAfter }))).toEqual(
        [
          { type: "refund", amount: -500, balanceAfter: 0 },
          { type: "purchase", amount: 500, balanceAfter: 500 },
        ],
      );
      expect(await refundAudits(paid.userId)).toEqual([
        expect.objectContaining({
          actorUserId: admin.userId,
          actorLabel: "ops@example.test",
          details: {
            purchaseId: paid.purchaseId,
            amount: 3999,
            reason: "customer asked",
            currency: "usd",
            refundId: expect.stringMatching(/^re_/),
          },
        }),
      ]);

      // Nothing is left to refund.
      await expect(refund(paid.purchaseId)).rejects.toMatchObject({ code: "refund_not_possible" });
      expect((await customer(paid.userId, paid.purchaseId)).balance).toBe(0);
    });

    it("a partial refund takes back the refunded share, rounded down; the rest can be refunded later", async () => {
      const paid = await sandboxPurchase();

      await refund(paid.purchaseId, 1000);

      // 500 credits × 1000 / 3999 cents = 125.03…: the customer keeps the fraction.
      expect(Math.floor((500 * 1000) / 3999)).toBe(125);
      expect(await customer(paid.userId, paid.purchaseId)).toEqual({
        balance: 375,
        amountRefunded: 1000,
        clawedBackCredits: 125,
      });
      expect((await refundAudits(paid.userId)).map((row) => row.details.amount)).toEqual([1000]);

      await refund(paid.purchaseId);

      expect(await customer(paid.userId, paid.purchaseId)).toEqual({
        balance: 0,
        amountRefunded: 3999,
        clawedBackCredits: 500,
      });
      expect((await refundAudits(paid.userId)).map((row) => row.details.amount).sort()).toEqual([1000, 2999]);
    });

    it("refuses to refund more than is left, and changes nothing", async () => {
      const paid = await sandboxPurchase();
      await refund(paid.purchaseId, 1000);
      const before = await customer(paid.userId, paid.purchaseId);

      await expect(refund(paid.purchaseId, 3000)).rejects.toMatchObject({ code: "refund_not_possible" });

      expect(await customer(paid.userId, paid.purchaseId)).toEqual(before);
      const [intent] = await database.db
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, paid.paymentIntentId));
      expect(intent?.amountRefunded).toBe(1000);
      // Exactly what is left is still possible.
      await refund(paid.purchaseId, 2999);
      expect(await customer(paid.userId, paid.purchaseId)).toMatchObject({
        balance: 0,
        clawedBackCredits: 500,
      });
    });

    it.each([
      { purchase: "a pending purchase", card: null, status: "pending" },
      { purchase: "a failed purchase", card: CARDS.declined, status: "failed" },
    ])("refuses to refund $purchase with refund_not_possible", async ({ card, status }) => {
      const unpaid = await sandboxPurchase(card);
      expect((await purchaseRow(database.db, unpaid.purchaseId)).status).toBe(status);

      await expect(refund(unpaid.purchaseId)).rejects.toMatchObject({ code: "refund_not_possible" });
      await expect(refund(unpaid.purchaseId, 100)).rejects.toMatchObject({ code: "refund_not_possible" });

      expect(await customer(unpaid.userId, unpaid.purchaseId)).toEqual({
        balance: 0,
        amountRefunded: 0,
        clawedBackCredits: 0,
      });
      expect(await refundAudits(unpaid.userId)).toEqual([]);
      expect((await purchaseRow(database.db, unpaid.purchaseId)).status).toBe(status);
    });

    it("answers not_found for a purchase that does not exist", async () => {
      await expect(refund(randomUUID())).rejects.toMatchObject({ code: "not_found" });
    });
  });

  describe("with Stripe", () => {
    let stripe: FakeStripeRefunds;
    let provider: StripePaymentProvider;
    beforeAll(async () => {
      stripe = await startFakeStripeRefunds();
      provider = new StripePaymentProvider(createStripeClient(STRIPE_KEY, stripe.url));
    });
    afterAll(async () => {
      await stripe?.close();
    });

    async function deliver(type: string, object: Record<string, unknown>) {
      const rawBody = stripeEventPayload(type, object);
      return receiveWebhook(database.db, {
        rawBody,
        signature: signPayload(rawBody, WEBHOOK_SECRET),
        secret: WEBHOOK_SECRET,
      });
    }

    it("asks Stripe for the refund; the credits go when Stripe's charge.refunded event arrives", async () => {
      const userId = await seedUser(database.db);
      const created = await createCreditPurchase(database.db, provider, { userId, packageId: "standard" });
      const metadata = { purchaseId: created.purchaseId, userId, packageId: "standard" };
      const paid = await deliver(
        "payment_intent.succeeded",
        paymentIntentObject({ id: created.paymentIntentId, amount: 3999, currency: "usd", metadata }),
      );
      expect(paid.outcome).toBe("granted");

      const result = await refundPurchase(
        database.db,
        provider,
        { purchaseId: created.purchaseId, amount: 1000, reason: "late delivery" },
        admin,
      );

      expect(result.refundId).toMatch(/^re_fake_/);
      const [sent, ...more] = stripe.refunds;
      expect(more).toEqual([]);
      expect(sent).toMatchObject({
        authorization: `Bearer ${STRIPE_KEY}`,
        paymentIntent: created.paymentIntentId,
        amount: "1000",
        idempotencyKey: expect.stringContaining(created.purchaseId),
      });
      // Until Stripe reports the refund, the customer keeps the credits.
      expect(await customer(userId, created.purchaseId)).toEqual({
        balance: 500,
        amountRefunded: 0,
        clawedBackCredits: 0,
      });
      expect(await refundAudits(userId)).toHaveLength(1);

      await deliver("charge.refunded", {
        id: `ch_for_${created.paymentIntentId}`,
        object: "charge",
        amount: 3999,
        amount_refunded: 1000,
        currency: "usd",
        payment_intent: created.paymentIntentId,
        refunded: false,
      });

      expect(await customer(userId, created.purchaseId)).toEqual({
        balance: 375,
        amountRefunded: 1000,
        clawedBackCredits: 125,
      });
    });

    it.each([
      // ISK is two-decimal in Stripe's API but charged in whole krónur: 1050 (10.50 kr) is refused.
      { currency: "isk", price: 50_000, refused: 1050, accepted: 1000 },
      // UGX likewise.
      { currency: "ugx", price: 500_000, refused: 100_050, accepted: 100_000 },
      // KWD has three decimals and Stripe takes only amounts whose last digit is 0.
      { currency: "kwd", price: 12_340, refused: 1234, accepted: 1230 },
    ])("refuses a $currency refund amount Stripe would refuse, before calling Stripe", async (c) => {
      // A purchase in that currency, paid through Stripe's webhook like any other.
      const userId = await seedUser(database.db);
      const paymentIntentId = `pi_${c.currency}_${randomUUID().slice(0, 8)}`;
      const [row] = await database.db
        .insert(creditPurchase)
        .values({
          userId,
          packageId: "standard",
          credits: 500,
          amount: c.price,
          currency: c.currency,
          provider: "stripe",
          paymentIntentId,
        })
        .returning();
      const purchaseId = row?.id ?? "";
      const metadata = { purchaseId, userId, packageId: "standard" };
      const paid = await deliver(
        "payment_intent.succeeded",
        paymentIntentObject({ id: paymentIntentId, amount: c.price, currency: c.currency, metadata }),
      );
      expect(paid.outcome).toBe("granted");
      const calls = stripe.refunds.length;

      await expect(
        refundPurchase(database.db, provider, { purchaseId, amount: c.refused, reason: "partial" }, admin),
      ).rejects.toMatchObject({
        code: "invalid_input",
        message: expect.stringMatching(/Stripe would refuse/),
      });
      expect(stripe.refunds).toHaveLength(calls);
      expect(await refundAudits(userId)).toEqual([]);

      await refundPurchase(
        database.db,
        provider,
        { purchaseId, amount: c.accepted, reason: "partial" },
        admin,
      );
      expect(stripe.refunds.at(-1)).toMatchObject({ amount: String(c.accepted) });
    });

    it("refuses to refund a sandbox purchase through Stripe, without calling Stripe", async () => {
      const paid = await sandboxPurchase();
      const calls = stripe.refunds.length;

      await expect(
        refundPurchase(
          database.db,
          provider,
          { purchaseId: paid.purchaseId, reason: "wrong provider" },
          admin,
        ),
      ).rejects.toMatchObject({ code: "refund_not_possible" });

      expect(stripe.refunds).toHaveLength(calls);
      expect(await customer(paid.userId, paid.purchaseId)).toMatchObject({ balance: 500, amountRefunded: 0 });
    });
  });
});

type RecordedRefund = {
  authorization?: string;
  idempotencyKey?: string;
  paymentIntent: string | null;
  amount: string | null;
};

type FakeStripeRefunds = { url: string; refunds: RecordedRefund[]; close: () => Promise<void> };

/**
 * Two routes of Stripe's API on 127.0.0.1 for the real SDK: POST /v1/payment_intents (to start a purchase)
 * and POST /v1/refunds (recorded, answered with a pending refund). tests/support/fake-stripe.ts has no
 * refunds route, hence this one.
 */
async function startFakeStripeRefunds(): Promise<FakeStripeRefunds> {
  const refunds: RecordedRefund[] = [];
  let counter = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": `req_${++counter}` });
        res.end(JSON.stringify(body));
      };
      if (req.method === "POST" && path === "/v1/payment_intents") {
        const id = `pi_fake_refund_${++counter}`;
        send(200, {
          id,
          object: "payment_intent",
          amount: Number(form.get("amount")),
          currency: form.get("currency"),
          client_secret: `${id}_secret_fake`,
          status: "requires_payment_method",
        });
        return;
      }
      if (req.method === "POST" && path === "/v1/refunds") {
        const idempotencyKey = req.headers["idempotency-key"];
        refunds.push({
          authorization: req.headers.authorization,
          idempotencyKey: Array.isArray(idempotencyKey) ? idempotencyKey[0] : idempotencyKey,
          paymentIntent: form.get("payment_intent"),
          amount: form.get("amount"),
        });
        send(200, {
          id: `re_fake_${++counter}`,
          object: "refund",
          amount: Number(form.get("amount")),
          payment_intent: form.get("payment_intent"),
          status: "pending",
        });
        return;
      }
      send(404, { error: { type: "invalid_request_error", message: `No such route ${path}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    refunds,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

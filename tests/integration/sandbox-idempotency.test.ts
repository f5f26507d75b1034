import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { auditLog, refundRequest, sandboxPaymentIntent } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { appRequest, readJson, routeContext, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { confirmPost } from "../support/route-handlers";
import { entriesOf, purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Sandbox mode: the confirm route is served and signs events with the sandbox's generated secret.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const WEBHOOK_SECRET = "whsec_sandbox_idempotency_tests";
const CARD_OK = "4242 4242 4242 4242";
const CARD_DECLINED = "4000 0000 0000 0002";

/**
 * The sandbox stands in for Stripe, so it must honour idempotency keys the way Stripe documents them
 * (https://docs.stripe.com/api/idempotent_requests): the same key and parameters answer the first
 * result, even while the first request is still running; the same key with other parameters is an
 * `idempotency_error`; keys are pruned after 24 hours.
 */
describe.each(databaseKinds())("the payment sandbox's idempotency keys on %s", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  /** A Standard purchase (500 credits for 3999 cents), paid in the sandbox with 4242. */
  async function paidPurchase() {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "standard" });
    await confirmSandboxPayment(database.db, {
      paymentIntentId: created.paymentIntentId,
      userId,
      cardNumber: CARD_OK,
      webhookSecret: WEBHOOK_SECRET,
    });
    return { userId, ...created };
  }

  async function sandboxIntent(paymentIntentId: string) {
    const [row] = await database.db
      .select()
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.id, paymentIntentId));
    if (!row) throw new Error("no sandbox PaymentIntent");
    return row;
  }

  /** The ledger entries that took credits back for refunds: one per refund the provider really made. */
  async function refundEntries(userId: string) {
    return (await entriesOf(database.db, userId))
      .filter((entry) => entry.type === "refund")
      .map((entry) => entry.amount);
  }

  describe("admin refunds", () => {
    it("makes one refund and one clawback when the same refund is submitted twice at once", async () => {
      const paid = await paidPurchase();
      const requestId = randomUUID();
      const submit = () =>
        refundPurchase(
          database.db,
          sandbox,
          { purchaseId: paid.purchaseId, amount: 1000, reason: "double click", requestId },
          admin,
        );

      const [first, second] = await Promise.all([submit(), submit()]);

      // The second submission is answered with the first refund, as Stripe answers a repeated key.
      expect(second.refundId).toBe(first.refundId);
      expect((await sandboxIntent(paid.paymentIntentId)).amountRefunded).toBe(1000);
      expect(await purchaseRow(database.db, paid.purchaseId)).toMatchObject({
        amountRefunded: 1000,
        clawedBackCredits: 125,
      });
      expect(await refundEntries(paid.userId)).toEqual([-125]);
      expect((await getBalance(database.db, paid.userId)).balance).toBe(375);
    });

    it("answers a later repeat of the same refund with the first refund and changes nothing", async () => {
      const paid = await paidPurchase();
      const request = { purchaseId: paid.purchaseId, amount: 1000, reason: "retry", requestId: randomUUID() };

      const first = await refundPurchase(database.db, sandbox, request, admin);
      const again = await refundPurchase(database.db, sandbox, request, admin);

      expect(again.refundId).toBe(first.refundId);
      expect((await sandboxIntent(paid.paymentIntentId)).amountRefunded).toBe(1000);
      expect(await refundEntries(paid.userId)).toEqual([-125]);
    });

    it("refuses the same key with another amount (the app before the sandbox, the sandbox with idempotency_error), and refunds nothing more", async () => {
      const paid = await paidPurchase();
      const requestId = randomUUID();
      await refundPurchase(
        database.db,
        sandbox,
        { purchaseId: paid.purchaseId, amount: 1000, reason: "first", requestId },
        admin,
      );

      await expect(
        refundPurchase(
          database.db,
          sandbox,
          { purchaseId: paid.purchaseId, amount: 2000, reason: "changed", requestId },
          admin,
        ),
      ).rejects.toMatchObject({ code: "refund_not_possible" });
      // The app refuses before asking the sandbox; asked directly, the sandbox refuses a reused key with
      // other parameters as Stripe does.
      const [reserved] = await database.db
        .select({ idempotencyKey: refundRequest.idempotencyKey })
        .from(refundRequest)
        .where(eq(refundRequest.purchaseId, paid.purchaseId));
      await expect(
        sandbox.refundPayment({
          paymentIntentId: paid.paymentIntentId,
          amount: 2000,
          idempotencyKey: reserved?.idempotencyKey ?? "",
        }),
      ).rejects.toMatchObject({ code: "idempotency_error" });

      expect((await sandboxIntent(paid.paymentIntentId)).amountRefunded).toBe(1000);
      expect(await refundEntries(paid.userId)).toEqual([-125]);
      const audits = await database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetUserId, paid.userId), eq(auditLog.action, "purchase.refund_requested")));
      expect(audits).toHaveLength(1);
    });

    it("replays a refusal too: a repeat of a refused refund is refused the same way", async () => {
      const paid = await paidPurchase();
      const key = `refund-too-much-${randomUUID()}`;
      const tooMuch = { paymentIntentId: paid.paymentIntentId, amount: 5000, idempotencyKey: key };

      await expect(sandbox.refundPayment(tooMuch)).rejects.toMatchObject({ code: "refund_not_possible" });
      await expect(sandbox.refundPayment(tooMuch)).rejects.toMatchObject({ code: "refund_not_possible" });
      expect((await sandboxIntent(paid.paymentIntentId)).amountRefunded).toBe(0);
    });

    it("lets a key be used for a new request once it is more than 24 hours old, as Stripe prunes it", async () => {
      const paid = await paidPurchase();
      const key = `refund-old-${randomUUID()}`;
      await sandbox.refundPayment({
        paymentIntentId: paid.paymentIntentId,
        amount: 1000,
        idempotencyKey: key,
      });
      await expect(
        sandbox.refundPayment({ paymentIntentId: paid.paymentIntentId, amount: 500, idempotencyKey: key }),
      ).rejects.toMatchObject({ code: "idempotency_error" });

      await database.db.execute(
        sql`UPDATE sandbox_idempotency SET created_at = now() - interval '25 hours' WHERE idempotency_key = ${key}`,
      );
      await sandbox.refundPayment({
        paymentIntentId: paid.paymentIntentId,
        amount: 500,
        idempotencyKey: key,
      });

      expect((await sandboxIntent(paid.paymentIntentId)).amountRefunded).toBe(1500);
    });
  });

  describe("creating PaymentIntents", () => {
    const metadata = () => ({ purchaseId: randomUUID(), userId: randomUUID(), packageId: "standard" });

    it("answers the same key and parameters with the first PaymentIntent, also at once", async () => {
      const request = {
        amount: 3999,
        currency: "usd",
        description: "500 credits",
        metadata: metadata(),
        idempotencyKey: `create-${randomUUID()}`,
      };

      const created = await Promise.all([
        sandbox.createPaymentIntent(request),
        sandbox.createPaymentIntent(request),
      ]);
      const later = await sandbox.createPaymentIntent({ ...request, metadata: { ...request.metadata } });

      expect(created[1]).toEqual(created[0]);
      expect(later).toEqual(created[0]);
      const rows = await database.db
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.idempotencyKey, request.idempotencyKey));
      expect(rows).toHaveLength(1);
    });

    it("refuses the same key with another amount with idempotency_error", async () => {
      const request = {
        amount: 3999,
        currency: "usd",
        description: "500 credits",
        metadata: metadata(),
        idempotencyKey: `create-${randomUUID()}`,
      };
      const first = await sandbox.createPaymentIntent(request);

      await expect(sandbox.createPaymentIntent({ ...request, amount: 1 })).rejects.toMatchObject({
        code: "idempotency_error",
      });
      expect((await sandboxIntent(first.id)).amount).toBe(3999);
    });
  });

  describe("confirming through the route with an Idempotency-Key", () => {
    async function confirmWithKey(cookie: string, paymentIntentId: string, cardNumber: string, key: string) {
      return readJson<{ status?: string; error?: { code: string } }>(
        await confirmPost(
          appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
            cookie,
            json: { cardNumber },
            headers: { "idempotency-key": key },
          }),
          routeContext({ paymentIntentId }),
        ),
      );
    }

    it("replays a declined confirm for the same key and card, and refuses the key with another card", async () => {
      const payer = await signUp(`payer-${randomUUID()}@example.test`);
      const created = await createCreditPurchase(database.db, sandbox, {
        userId: payer.id,
        packageId: "standard",
      });
      const key = `confirm-${randomUUID()}`;

      const declined = await confirmWithKey(payer.cookie, created.paymentIntentId, CARD_DECLINED, key);
      const replayed = await confirmWithKey(payer.cookie, created.paymentIntentId, CARD_DECLINED, key);
      const otherCard = await confirmWithKey(payer.cookie, created.paymentIntentId, CARD_OK, key);

      expect(declined.status).toBe(402);
      expect(replayed).toEqual(declined);
      expect(otherCard).toMatchObject({ status: 400, body: { error: { code: "idempotency_error" } } });
      expect((await getBalance(database.db, payer.id)).balance).toBe(0);
      expect((await sandboxIntent(created.paymentIntentId)).status).toBe("requires_payment_method");

      // A new key is a new attempt: the good card pays.
      const paid = await confirmWithKey(
        payer.cookie,
        created.paymentIntentId,
        CARD_OK,
        `confirm-${randomUUID()}`,
      );
      expect(paid).toMatchObject({ status: 200, body: { status: "succeeded" } });
      expect((await getBalance(database.db, payer.id)).balance).toBe(500);
    });

    it("refuses an Idempotency-Key longer than 255 characters with 400 invalid_input, before confirming", async () => {
      const payer = await signUp(`long-key-${randomUUID()}@example.test`);
      const created = await createCreditPurchase(database.db, sandbox, {
        userId: payer.id,
        packageId: "standard",
      });

      const refused = await confirmWithKey(payer.cookie, created.paymentIntentId, CARD_OK, "k".repeat(256));

      expect(refused).toMatchObject({ status: 400, body: { error: { code: "invalid_input" } } });
      expect((await sandboxIntent(created.paymentIntentId)).status).toBe("requires_payment_method");
    });
  });
});

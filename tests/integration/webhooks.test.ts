import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { connectDatabase } from "../../src/db/connect";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { WebhookSignatureError } from "../../src/payment/types";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { APP_ORIGIN } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { closedPort } from "../support/net";
import { webhookPost } from "../support/route-handlers";
import { entriesOf, purchaseRow, webhookEventRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  type PaymentIntentFields,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Sandbox mode: the webhook route checks signatures against the sandbox's generated secret.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

const STANDARD = { credits: 500, amount: 3999, currency: "usd" } as const;

type Delivery = {
  status: number;
  body: { received?: boolean; outcome?: string; error?: { code: string; retryable?: boolean } };
};

/** POSTs a raw body to the webhook route the way Stripe does. */
async function deliver(payload: string, signature: string | null): Promise<Delivery> {
  const headers = new Headers({ "content-type": "application/json" });
  if (signature !== null) headers.set("stripe-signature", signature);
  const response = await webhookPost(
    new Request(`${APP_ORIGIN}/api/webhooks/stripe`, { method: "POST", headers, body: payload }),
  );
  return { status: response.status, body: (await response.json()) as Delivery["body"] };
}

function deliverSigned(payload: string): Promise<Delivery> {
  return deliver(payload, signPayload(payload, webhookSigningSecret()));
}

function eventIdOf(payload: string): string {
  return (JSON.parse(payload) as { id: string }).id;
}

describe.each(databaseKinds())("Stripe webhooks on %s", (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 25 });
    useDatabaseConnection(database);
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

  /** A pending Standard purchase with its sandbox PaymentIntent, as POST /api/credits/purchases creates it. */
  async function pendingPurchase(userId?: string) {
    const owner = userId ?? (await seedUser(database.db));
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId: owner,
      packageId: "standard",
    });
    const intent = (fields: Partial<PaymentIntentFields> = {}) =>
      paymentIntentObject({
        id: created.paymentIntentId,
        amount: STANDARD.amount,
        currency: STANDARD.currency,
        metadata: { purchaseId: created.purchaseId, userId: owner, packageId: "standard" },
        ...fields,
      });
    return { ...created, userId: owner, intent };
  }

  async function balanceOf(userId: string): Promise<number> {
    return (await getBalance(database.db, userId)).balance;
  }

  async function purchaseEntries(userId: string) {
    return (await entriesOf(database.db, userId)).filter((entry) => entry.type === "purchase");
  }

  describe("payment_intent.succeeded", () => {
    it("credits the package once, marks the purchase succeeded and records the event", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());

      const delivery = await deliverSigned(payload);

      expect(delivery).toEqual({ status: 200, body: { received: true, outcome: "granted" } });
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      const entries = await purchaseEntries(purchase.userId);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ amount: STANDARD.credits, reference: purchase.paymentIntentId });
      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        status: "succeeded",
        grantEntryId: entries[0]?.id,
        flaggedReason: null,
      });
      expect(await webhookEventRow(database.db, eventIdOf(payload))).toMatchObject({
        type: "payment_intent.succeeded",
        outcome: "granted",
      });
    });

    it("answers a redelivery of the same event as a duplicate and grants nothing more", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());

      const first = await receiveWebhook(database.db, {
        rawBody: payload,
        signature: signPayload(payload, webhookSigningSecret()),
        secret: webhookSigningSecret(),
      });
      // Stripe signs every retry afresh; the event id is what stays the same.
      const again = await deliverSigned(payload);
      const thirdTime = await receiveWebhook(database.db, {
        rawBody: payload,
        signature: signPayload(payload, webhookSigningSecret()),
        secret: webhookSigningSecret(),
      });

      expect(first.outcome).toBe("granted");
      expect(again).toEqual({ status: 200, body: { received: true, outcome: "duplicate" } });
      expect(thirdTime.outcome).toBe("duplicate");
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });

    it("grants once when a different event arrives for the same PaymentIntent", async () => {
      const purchase = await pendingPurchase();

      const first = await deliverSigned(stripeEventPayload("payment_intent.succeeded", purchase.intent()));
      const second = await deliverSigned(stripeEventPayload("payment_intent.succeeded", purchase.intent()));

      expect(first.body.outcome).toBe("granted");
      expect(second).toEqual({ status: 200, body: { received: true, outcome: "already_granted" } });
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });
  });

  describe("signature checks", () => {
    it("refuses unsigned, forged, stale and altered deliveries before writing anything", async () => {
      const purchase = await pendingPurchase();
      const secret = webhookSigningSecret();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());
      const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;
      const altered = payload.replace(`"amount":${STANDARD.amount}`, '"amount":1');
      expect(altered).not.toBe(payload);

      const attempts: { name: string; body: string; signature: string | null }[] = [
        { name: "missing header", body: payload, signature: null },
        { name: "wrong secret", body: payload, signature: signPayload(payload, "whsec_not_the_real_secret") },
        { name: "stale timestamp", body: payload, signature: signPayload(payload, secret, tenMinutesAgo) },
        { name: "body altered after signing", body: altered, signature: signPayload(payload, secret) },
        { name: "garbage header", body: payload, signature: "t=1,v1=deadbeef" },
      ];
      for (const attempt of attempts) {
        const delivery = await deliver(attempt.body, attempt.signature);
        expect({ attempt: attempt.name, status: delivery.status, code: delivery.body.error?.code }).toEqual({
          attempt: attempt.name,
          status: 400,
          code: "invalid_signature",
        });
        await expect(
          receiveWebhook(database.db, { rawBody: attempt.body, signature: attempt.signature, secret }),
        ).rejects.toBeInstanceOf(WebhookSignatureError);
      }

      expect(await webhookEventRow(database.db, eventIdOf(payload))).toBeUndefined();
      expect(await balanceOf(purchase.userId)).toBe(0);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("pending");

      // The same event, correctly signed four minutes ago (inside Stripe's five-minute tolerance), is applied.
      const fourMinutesAgo = Math.floor(Date.now() / 1000) - 240;
      const genuine = await deliver(payload, signPayload(payload, secret, fourMinutesAgo));
      expect(genuine).toEqual({ status: 200, body: { received: true, outcome: "granted" } });
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
    });
  });

  describe("payments that do not match their purchase", () => {
    type Intent = Record<string, unknown> & { metadata: Record<string, string> };
    it.each([
      {
        mismatch: "amount_received",
        tamper: (intent: Intent) => ({ ...intent, amount_received: 100 }),
        reason: /amount_received 100 != 3999/,
      },
      {
        mismatch: "currency",
        tamper: (intent: Intent) => ({ ...intent, currency: "eur" }),
        reason: /currency eur != usd/,
      },
      {
        // A payload whose shape changed under us: flagged for a human, never a TypeError stored for retry.
        mismatch: "missing currency",
        tamper: (intent: Intent) => ({ ...intent, currency: null }),
        reason: /currency null != usd/,
      },
      {
        mismatch: "package in metadata",
        tamper: (intent: Intent) => ({
          ...intent,
          metadata: { ...intent.metadata, packageId: "enterprise" },
        }),
        reason: /metadata does not match/,
      },
      {
        mismatch: "user in metadata",
        tamper: (intent: Intent) => ({ ...intent, metadata: { ...intent.metadata, userId: "someone-else" } }),
        reason: /metadata does not match/,
      },
      {
        mismatch: "missing metadata",
        tamper: (intent: Intent) => ({ ...intent, metadata: {} }),
        reason: /metadata is missing or malformed/,
      },
    ])(
      "grants nothing and flags the purchase for review on a $mismatch mismatch",
      async ({ tamper, reason }) => {
        const purchase = await pendingPurchase();
        const payload = stripeEventPayload("payment_intent.succeeded", tamper(purchase.intent() as Intent));

        const delivery = await deliverSigned(payload);

        expect(delivery).toEqual({ status: 200, body: { received: true, outcome: "mismatch_flagged" } });
        expect(await balanceOf(purchase.userId)).toBe(0);
        expect(await entriesOf(database.db, purchase.userId)).toEqual([]);
        const row = await purchaseRow(database.db, purchase.purchaseId);
        expect(row).toMatchObject({ status: "requires_review", grantEntryId: null });
        expect(row.flaggedReason).toMatch(reason);
      },
    );

    it("grants nothing for a PaymentIntent no purchase owns, and flags the purchase its metadata names", async () => {
      const purchase = await pendingPurchase();
      const strangerIntent = purchase.intent({ id: testId("pi") });

      const named = await deliverSigned(stripeEventPayload("payment_intent.succeeded", strangerIntent));
      const anonymous = await deliverSigned(
        stripeEventPayload("payment_intent.succeeded", { ...strangerIntent, id: testId("pi"), metadata: {} }),
      );

      expect(named).toEqual({ status: 200, body: { received: true, outcome: "unknown_payment_intent" } });
      expect(anonymous).toEqual({ status: 200, body: { received: true, outcome: "unknown_payment_intent" } });
      expect(await balanceOf(purchase.userId)).toBe(0);
      expect(await entriesOf(database.db, purchase.userId)).toEqual([]);
      const row = await purchaseRow(database.db, purchase.purchaseId);
      expect(row.status).toBe("pending");
      expect(row.flaggedReason).toContain(strangerIntent.id as string);
    });
  });

  describe("failed and canceled payments", () => {
    it("marks the purchase failed with the card's decline code on payment_intent.payment_failed", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload(
        "payment_intent.payment_failed",
        purchase.intent({
          status: "requires_payment_method",
          last_payment_error: {
            type: "card_error",
            code: "card_declined",
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
          },
        }),
      );

      expect(await deliverSigned(payload)).toEqual({
        status: 200,
        body: { received: true, outcome: "marked_failed" },
      });
      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        status: "failed",
        failureCode: "insufficient_funds",
        failureMessage: "Your card has insufficient funds.",
      });
      expect(await balanceOf(purchase.userId)).toBe(0);
    });

    it("marks the purchase canceled on payment_intent.canceled", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload(
        "payment_intent.canceled",
        purchase.intent({ status: "canceled", cancellation_reason: "abandoned" }),
      );

      expect(await deliverSigned(payload)).toEqual({
        status: 200,
        body: { received: true, outcome: "marked_canceled" },
      });
      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        status: "canceled",
        failureCode: "abandoned",
      });
      expect(await balanceOf(purchase.userId)).toBe(0);
    });

    it("lets a customer pay after a declined attempt, and a late failure cannot undo a paid purchase", async () => {
      const purchase = await pendingPurchase();
      const declined = purchase.intent({
        status: "requires_payment_method",
        last_payment_error: { type: "card_error", code: "card_declined", decline_code: "generic_decline" },
      });
      await deliverSigned(stripeEventPayload("payment_intent.payment_failed", declined));
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("failed");

      const paid = await deliverSigned(stripeEventPayload("payment_intent.succeeded", purchase.intent()));
      const lateFailure = await deliverSigned(stripeEventPayload("payment_intent.payment_failed", declined));
      const lateCancel = await deliverSigned(
        stripeEventPayload("payment_intent.canceled", purchase.intent({ status: "canceled" })),
      );

      expect(paid.body.outcome).toBe("granted");
      expect(lateFailure.body.outcome).toBe("ignored_already_succeeded");
      expect(lateCancel.body.outcome).toBe("ignored_already_succeeded");
      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        status: "succeeded",
        failureCode: null,
      });
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
    });
  });

  describe("events arriving out of order", () => {
    // Stripe does not guarantee delivery order: a failed attempt's event can arrive after the payment
    // that was flagged for review. Money was received, so the flag must survive for the operator.
    it("keeps a purchase flagged for review when a late payment_failed or canceled arrives", async () => {
      const purchase = await pendingPurchase();
      const underpaid = purchase.intent({ amount_received: 100 });
      await deliverSigned(stripeEventPayload("payment_intent.succeeded", underpaid));
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("requires_review");

      const lateFailure = purchase.intent({
        status: "requires_payment_method",
        last_payment_error: { type: "card_error", code: "card_declined", decline_code: "generic_decline" },
      });
      await deliverSigned(stripeEventPayload("payment_intent.payment_failed", lateFailure));
      await deliverSigned(
        stripeEventPayload("payment_intent.canceled", purchase.intent({ status: "canceled" })),
      );

      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        status: "requires_review",
        flaggedReason: expect.stringContaining("amount_received 100"),
      });
      expect(await balanceOf(purchase.userId)).toBe(0);
    });
  });

  it("acknowledges an event type it does not handle and changes nothing", async () => {
    const purchase = await pendingPurchase();
    const payload = stripeEventPayload("customer.created", { id: testId("cus"), object: "customer" });

    const delivery = await deliverSigned(payload);

    expect(delivery).toEqual({ status: 200, body: { received: true, outcome: "ignored_event_type" } });
    expect(await webhookEventRow(database.db, eventIdOf(payload))).toMatchObject({
      outcome: "ignored_event_type",
    });
    expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("pending");
  });

  describe("failures Stripe must retry", () => {
    it("answers 503 while the database is unreachable, and the retry credits once", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());
      const unreachable = await connectDatabase({
        kind: "postgres",
        url: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`,
        migrate: false,
      });

      useDatabaseConnection(unreachable);
      let outage: Delivery;
      try {
        outage = await deliverSigned(payload);
      } finally {
        useDatabaseConnection(database);
        await unreachable.close();
      }

      expect(outage.status).toBe(503);
      expect(outage.body.error).toMatchObject({ code: "database_unavailable", retryable: true });
      expect(await webhookEventRow(database.db, eventIdOf(payload))).toBeUndefined();
      expect(await balanceOf(purchase.userId)).toBe(0);

      expect((await deliverSigned(payload)).body.outcome).toBe("granted");
      expect((await deliverSigned(payload)).body.outcome).toBe("duplicate");
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });

    it("answers 5xx when the grant fails mid-transaction, keeps no trace of the event, and the retry credits once", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());
      // A real failure inside the database, after the event id was inserted in the same transaction.
      await database.db.execute(
        sql.raw(`CREATE FUNCTION fail_grant() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'disk on fire'; END $$`),
      );
      await database.db.execute(
        sql.raw(`CREATE TRIGGER fail_grant BEFORE INSERT ON credit_entry FOR EACH ROW
                 WHEN (NEW.reference = '${purchase.paymentIntentId}') EXECUTE FUNCTION fail_grant()`),
      );
      let failed: Delivery;
      try {
        failed = await deliverSigned(payload);
      } finally {
        await database.db.execute(sql.raw("DROP TRIGGER fail_grant ON credit_entry"));
        await database.db.execute(sql.raw("DROP FUNCTION fail_grant()"));
      }

      // Stripe retries any 5xx; an unknown failure is not marked retryable for API clients.
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(failed.body.error?.code).toBe("internal_error");
      expect(await webhookEventRow(database.db, eventIdOf(payload))).toBeUndefined();
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("pending");
      expect(await balanceOf(purchase.userId)).toBe(0);

      expect((await deliverSigned(payload)).body.outcome).toBe("granted");
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });
  });

  describe.runIf(kind === "postgres")("concurrent deliveries (PostgreSQL)", () => {
    it("credits exactly once when one event is delivered 20 times at once", async () => {
      const purchase = await pendingPurchase();
      const payload = stripeEventPayload("payment_intent.succeeded", purchase.intent());

      const deliveries = await Promise.all(Array.from({ length: 20 }, () => deliverSigned(payload)));

      expect(deliveries.map((d) => d.status)).toEqual(Array(20).fill(200));
      const outcomes = deliveries.map((d) => d.body.outcome).sort();
      expect(outcomes).toEqual(["granted", ...Array(19).fill("duplicate")].sort());
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });

    it("credits exactly once when 20 different events for one PaymentIntent arrive at once", async () => {
      const purchase = await pendingPurchase();
      const payloads = Array.from({ length: 20 }, () =>
        stripeEventPayload("payment_intent.succeeded", purchase.intent()),
      );

      const deliveries = await Promise.all(payloads.map((payload) => deliverSigned(payload)));

      expect(deliveries.map((d) => d.status)).toEqual(Array(20).fill(200));
      const outcomes = deliveries.map((d) => d.body.outcome).sort();
      expect(outcomes).toEqual(["granted", ...Array(19).fill("already_granted")].sort());
      expect(await balanceOf(purchase.userId)).toBe(STANDARD.credits);
      expect(await purchaseEntries(purchase.userId)).toHaveLength(1);
    });
  });
});

import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { addCredits } from "../../src/credits/add-credits";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { creditPurchase, sandboxPaymentIntent } from "../../src/db/schema";
import { runPaymentMaintenance } from "../../src/jobs/run-payment-maintenance";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { deliverDueSandboxEvents } from "../../src/payment/sandbox/deliver-sandbox-events";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { createStripeClient } from "../../src/payment/stripe/stripe-client";
import { StripePaymentProvider } from "../../src/payment/stripe/stripe-provider";
import { processWebhookEvent } from "../../src/payment/webhooks/process-webhook-event";
import { assertLedgerInvariants } from "../support/invariants";
import { purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  refundObject,
  testId,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_money_breaks";
const CARD_OK = "4242 4242 4242 4242";
const HOUR = 3600 * 1000;
const PRICE = 3999;

describe.each(databaseKinds())("sandbox refunds that must all reach the ledger on %s", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
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

  async function refundedAtSandbox(paymentIntentId: string) {
    const [row] = await database.db
      .select({ amountRefunded: sandboxPaymentIntent.amountRefunded })
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.id, paymentIntentId));
    return row?.amountRefunded;
  }

  // Two app instances exist only on PostgreSQL (PGlite is one process, whose database clock is its own).
  it.runIf(kind === "postgres")(
    "takes back both partial refunds when they were made on two instances whose clocks differ",
    async () => {
      const paid = await paidPurchase();
      const realNow = Date.now.bind(Date);
      // The first refund is made on an instance whose clock runs two minutes ahead (NTP not yet synced).
      vi.spyOn(Date, "now").mockImplementation(() => realNow() + 2 * 60 * 1000);
      await sandbox.refundPayment({
        paymentIntentId: paid.paymentIntentId,
        amount: 1000,
        idempotencyKey: "r1",
      });
      vi.restoreAllMocks();
      // The second on an instance with the right time.
      await sandbox.refundPayment({
        paymentIntentId: paid.paymentIntentId,
        amount: 1000,
        idempotencyKey: "r2",
      });

      expect(await refundedAtSandbox(paid.paymentIntentId)).toBe(2000);
      // 2000 of 3999 cents refunded: 250 of the 500 credits go back.
      expect(await purchaseRow(database.db, paid.purchaseId)).toMatchObject({
        amountRefunded: 2000,
        clawedBackCredits: 250,
      });
      expect((await getBalance(database.db, paid.userId)).balance).toBe(250);
    },
  );

  it("a second partial refund asked for on purpose while the first one's event is on its way is a second refund", async () => {
    const paid = await paidPurchase();
    // The first refund's event cannot be applied for a while (the customer's row locked, the database
    // busy): refund entries are refused until the constraint is dropped.
    const name = `refuse_refunds_${randomUUID().slice(0, 8)}`;
    await database.db.execute(
      sql.raw(`ALTER TABLE credit_entry ADD CONSTRAINT ${name} CHECK (type <> 'refund') NOT VALID`),
    );
    let first: { refundId: string };
    let second: { refundId: string };
    try {
      // No request id: each call is a refund of its own (the admin form sends one per dialog).
      first = await refundPurchase(
        database.db,
        sandbox,
        { purchaseId: paid.purchaseId, amount: 1000, reason: "late delivery" },
        admin,
      );
      // A second refund of $10, asked for on purpose (a second complaint), from a new dialog.
      second = await refundPurchase(
        database.db,
        sandbox,
        { purchaseId: paid.purchaseId, amount: 1000, reason: "second complaint" },
        admin,
      );
    } finally {
      await database.db.execute(sql.raw(`ALTER TABLE credit_entry DROP CONSTRAINT ${name}`));
    }
    await deliverDueSandboxEvents(database.db, WEBHOOK_SECRET, { now: new Date(Date.now() + 2 * HOUR) });

    // Two refunds were asked for and acknowledged with "Refund done": two refunds must have been made.
    expect(second.refundId).not.toBe(first.refundId);
    expect(await refundedAtSandbox(paid.paymentIntentId)).toBe(2000);
  });

  it("grants a purchase paid eight days after its pay dialog opened, when the payment's webhook is lost", async () => {
    // The customer opened the pay dialog, left it (the purchase is marked abandoned after a day), and
    // paid eight days later; Stripe's webhook for it never arrived (endpoint down for its three days of
    // retries). A PaymentIntent stays payable indefinitely, so this payment must still be found.
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "basic" });
    await database.db.execute(
      sql`UPDATE credit_purchase SET created_at = now() - interval '8 days' WHERE id = ${created.purchaseId}`,
    );
    await database.db
      .update(sandboxPaymentIntent)
      .set({ createdAt: new Date(Date.now() - 8 * 24 * HOUR) })
      .where(eq(sandboxPaymentIntent.id, created.paymentIntentId));
    await runPaymentMaintenance(database.db, sandbox);
    expect((await purchaseRow(database.db, created.purchaseId)).status).toBe("abandoned");
    // Paid now; its event is lost.
    await database.db
      .update(sandboxPaymentIntent)
      .set({ status: "succeeded", updatedAt: new Date() })
      .where(eq(sandboxPaymentIntent.id, created.paymentIntentId));

    await runPaymentMaintenance(database.db, sandbox);

    expect((await getBalance(database.db, userId)).balance).toBe(100);
    expect((await purchaseRow(database.db, created.purchaseId)).status).toBe("succeeded");
  });
});

describe.each(databaseKinds())(
  "refund and dispute facts that must decide what the customer keeps on %s",
  (kind) => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
    });
    afterEach(async () => {
      const report = await verifyLedger(database.db);
      expect(report.violations).toEqual([]);
    });
    afterAll(async () => {
      await database?.close();
    });

    async function purchase() {
      const userId = await seedUser(database.db);
      const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
        userId,
        packageId: "standard",
      });
      const pi = created.paymentIntentId;
      const charge = `ch_for_${pi}`;
      const t0 = Math.floor(Date.now() / 1000) - 3600;
      const send = (type: string, object: Record<string, unknown>, created: number, id = testId("evt")) =>
        processWebhookEvent(database.db, {
          id,
          object: "event",
          type,
          created,
          data: { object },
        } as unknown as Stripe.Event);
      return {
        userId,
        purchaseId: created.purchaseId,
        t0,
        pay: () =>
          send(
            "payment_intent.succeeded",
            paymentIntentObject({
              id: pi,
              amount: PRICE,
              currency: "usd",
              metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
            }),
            t0,
          ),
        dispute: (type: string, status: string, at: number, id = `dp_for_${pi}`) =>
          send(
            type,
            disputeObject({ id, amount: PRICE, currency: "usd", charge, payment_intent: pi, status }),
            at,
          ),
        refunded: (amountRefunded: number, at: number) =>
          send(
            "charge.refunded",
            chargeObject({
              id: charge,
              amount: PRICE,
              currency: "usd",
              payment_intent: pi,
              amount_refunded: amountRefunded,
            }),
            at,
          ),
        refund: (type: string, id: string, amount: number, status: string, at: number) =>
          send(type, refundObject({ id, amount, currency: "usd", charge, payment_intent: pi, status }), at),
      };
    }

    const state = async (userId: string) => {
      const b = await getBalance(database.db, userId);
      return { balance: b.balance, held: b.held, available: b.available, debt: b.debt };
    };

    // An inquiry that escalates may close while a new dispute (another id) is opened for the same charge.
    // The purchase keeps one dispute fact, not one per dispute, so at equal seconds the inquiry's terminal
    // `warning_closed` outranks the chargeback's `funds_withdrawn`: the chargeback's money is gone, the
    // credits stay.
    it("a second dispute on the same charge after an inquiry closed", async () => {
      const p = await purchase();
      await p.pay();
      await p.dispute("charge.dispute.created", "warning_needs_response", p.t0 + 10, "dp_inq");
      await p.dispute("charge.dispute.created", "needs_response", p.t0 + 30, "dp_cb");
      await p.dispute("charge.dispute.funds_withdrawn", "needs_response", p.t0 + 30, "dp_cb");
      // The inquiry's close arrives late but at the same second as the chargeback.
      await p.dispute("charge.dispute.closed", "warning_closed", p.t0 + 30, "dp_inq");
      expect(await state(p.userId)).toMatchObject({ balance: 0, debt: 0 });
    });

    // A failed refund is subtracted from every charge figure of the same second, including one taken after
    // the failure (which no longer counts it): the new refund's credits stay with the customer.
    it("refund that fails, then refunded again in the same second by a new refund", async () => {
      const p = await purchase();
      await p.pay();
      await p.refund("refund.created", "re_1", PRICE, "succeeded", p.t0 + 10);
      await p.refunded(PRICE, p.t0 + 10);
      expect(await state(p.userId)).toMatchObject({ balance: 0 });
      // re_1 fails; the merchant refunds again at once (same second): the charge shows 3999 refunded again.
      await p.refund("charge.refund.updated", "re_1", PRICE, "failed", p.t0 + 20);
      await p.refunded(PRICE, p.t0 + 20);
      expect(await state(p.userId)).toMatchObject({ balance: 0, debt: 0 });
      expect((await purchaseRow(database.db, p.purchaseId)).amountRefunded).toBe(PRICE);
    });

    // The purchase's credits already left the account (they expired unused); refunding its price then
    // takes as many again from the customer's other credits and puts the rest in debt.
    it("a refund of a purchase whose credits expired unused takes the credits of another purchase", async () => {
      const p = await purchase();
      await p.pay();
      await addCredits(database.db, {
        userId: p.userId,
        amount: 300,
        type: "grant",
        description: "another lot",
        idempotencyKey: "other-lot",
      });
      // The purchase's lot expires unused (a package with expireDays).
      await database.db.execute(
        sql`UPDATE credit_lot SET expires_at = now() + interval '1 second' WHERE user_id = ${p.userId} AND source = 'purchase'`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await p.refunded(PRICE, p.t0 + 30);
      expect(await state(p.userId)).toEqual({ balance: 300, held: 0, available: 300, debt: 0 });
    });

    // A won dispute gives the credits back as a new lot without an expiry: credits of a package that expire
    // come back as credits that never do.
    it("credits given back after a won dispute expire when the purchase's would have", async () => {
      const p = await purchase();
      await p.pay();
      await database.db.execute(
        sql`UPDATE credit_lot SET expires_at = now() + interval '3 second' WHERE user_id = ${p.userId} AND source = 'purchase'`,
      );
      await p.dispute("charge.dispute.funds_withdrawn", "needs_response", p.t0 + 10);
      await p.dispute("charge.dispute.closed", "won", p.t0 + 20);
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(await state(p.userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 0 });
    });

    // A dispute status this code does not know (a newer API version, a new network process) is
    // acknowledged and recorded as processed, with only a log line: it is not stored as a failed webhook,
    // not counted by `verify`, and cannot be retried from Admin → Failed webhooks once the code knows it.
    it("a dispute event with a status it does not know stays visible to the operator", async () => {
      const p = await purchase();
      await p.pay();
      await p.dispute("charge.dispute.updated", "appeal_won_partially", p.t0 + 10);
      const checks = (await verifyLedger(database.db)).violations.map((v) => v.check);
      expect(checks).toContain("webhook_failures_unresolved");
      // Nothing of it was applied: the customer keeps the credits until the status is understood.
      expect(await state(p.userId)).toMatchObject({ balance: 500, debt: 0 });
      // The stored failure is this test's expected result; it is set aside so the suite's closing check of
      // every other invariant (afterEach) still applies.
      await database.db.execute(
        sql`UPDATE webhook_failure SET resolved_at = now(), resolved_by = 'test' WHERE resolved_at IS NULL`,
      );
    });
  },
);

/**
 * Stripe's refunds endpoint as far as idempotency goes: a repeated Idempotency-Key is answered with the
 * first refund (https://docs.stripe.com/api/idempotent_requests), whatever happened to that refund since.
 */
async function startStripeRefunds() {
  const byKey = new Map<string, string>();
  const keys: (string | undefined)[] = [];
  let counter = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      const header = req.headers["idempotency-key"];
      const key = Array.isArray(header) ? header[0] : header;
      keys.push(key);
      const replay = key ? byKey.get(key) : undefined;
      const body =
        replay ??
        JSON.stringify({
          id: `re_fake_${++counter}`,
          object: "refund",
          amount: Number(form.get("amount") ?? 0),
          payment_intent: form.get("payment_intent"),
          status: "pending",
        });
      if (key) byKey.set(key, body);
      res.writeHead(200, { "content-type": "application/json", "request-id": `req_${counter}` });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    keys,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("a refund asked for again after Stripe reported the first one failed", () => {
  let database: TestDatabase;
  let stripe: Awaited<ReturnType<typeof startStripeRefunds>>;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    stripe = await startStripeRefunds();
  });
  afterAll(async () => {
    await stripe?.close();
    await database?.close();
  });

  it("is a new refund at Stripe, not the failed one again", async () => {
    const provider = new StripePaymentProvider(createStripeClient("sk_test_money_breaks", stripe.url));
    const adminId = await seedUser(database.db, { role: "admin" });
    const admin = { userId: adminId, label: "ops@example.test" };
    const userId = await seedUser(database.db);
    const [row] = await database.db
      .insert(creditPurchase)
      .values({
        userId,
        packageId: "standard",
        credits: 500,
        amount: PRICE,
        currency: "usd",
        provider: "stripe",
        paymentIntentId: `pi_${randomUUID().slice(0, 8)}`,
      })
      .returning();
    const purchaseId = row?.id ?? "";
    const pi = row?.paymentIntentId ?? "";
    const charge = `ch_for_${pi}`;
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
        metadata: { purchaseId, userId, packageId: "standard" },
      }),
      t0,
    );

    // The admin refunds the purchase; Stripe reports it, then its failure
    // (the customer's card account was closed): the customer keeps the credits and has not been paid.
    const first = await refundPurchase(database.db, provider, { purchaseId, reason: "not delivered" }, admin);
    await send(
      "charge.refunded",
      chargeObject({
        id: charge,
        amount: PRICE,
        currency: "usd",
        payment_intent: pi,
        amount_refunded: PRICE,
      }),
      t0 + 10,
    );
    await send(
      "charge.refund.updated",
      refundObject({
        id: first.refundId,
        amount: PRICE,
        currency: "usd",
        charge,
        payment_intent: pi,
        status: "failed",
      }),
      t0 + 20,
    );
    expect((await purchaseRow(database.db, purchaseId)).amountRefunded).toBe(0);

    // So the admin refunds again, from the same button.
    const second = await refundPurchase(database.db, provider, { purchaseId, reason: "second try" }, admin);

    expect(stripe.keys).toHaveLength(2);
    expect(stripe.keys[1]).not.toBe(stripe.keys[0]);
    expect(second.refundId).not.toBe(first.refundId);
  });
});

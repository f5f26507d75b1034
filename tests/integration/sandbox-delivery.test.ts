import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { listPurchases } from "../../src/admin/list-purchases";
import { getBalance } from "../../src/credits/get-balance";
import { creditAccount, sandboxEventOutbox, sandboxPaymentIntent, webhookFailure } from "../../src/db/schema";
import { runPaymentMaintenance } from "../../src/jobs/run-payment-maintenance";
import { PAYMENTS_QUEUE, SANDBOX_DELIVERY_QUEUE, startJobs } from "../../src/jobs/start-jobs";
import { logger } from "../../src/lib/logger";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { getPurchaseForUser } from "../../src/payment/get-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { deliverDueSandboxEvents } from "../../src/payment/sandbox/deliver-sandbox-events";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { assertLedgerInvariants } from "../support/invariants";
import { entriesOf, purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_sandbox_delivery_tests";
const CARD_OK = "4242 4242 4242 4242";
const HOUR = 3600 * 1000;

describe.each(databaseKinds())("sandbox event delivery and scheduled payment jobs on %s", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
  });
  // `verify` after every test: no credits invented or lost, and no failed webhook left unresolved.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  async function startPurchase(packageId = "standard") {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId });
    return { userId, ...created };
  }

  const confirm = (purchase: { userId: string; paymentIntentId: string }, cardNumber = CARD_OK) =>
    confirmSandboxPayment(database.db, {
      paymentIntentId: purchase.paymentIntentId,
      userId: purchase.userId,
      cardNumber,
      webhookSecret: WEBHOOK_SECRET,
    });

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;

  async function purchaseGrants(userId: string) {
    return (await entriesOf(database.db, userId)).filter((entry) => entry.type === "purchase");
  }

  async function outboxOf(paymentIntentId: string) {
    return database.db
      .select()
      .from(sandboxEventOutbox)
      .where(eq(sandboxEventOutbox.paymentIntentId, paymentIntentId));
  }

  /** The worker's pass as it would run once the event's backoff has passed. */
  const workerPass = () =>
    deliverDueSandboxEvents(database.db, WEBHOOK_SECRET, { now: new Date(Date.now() + 2 * HOUR) });

  /**
   * A real refusal by the database of this one PaymentIntent's grant (a CHECK constraint on the ledger,
   * NOT VALID so existing rows are not checked), until `fix` drops it: the grant fails the way a
   * constraint or a maintenance change would make it fail, with nothing mocked.
   */
  async function refuseGrantOf(paymentIntentId: string) {
    const name = `refuse_${paymentIntentId.replace(/\W/g, "_")}`.slice(0, 60);
    await database.db.execute(
      sql.raw(`ALTER TABLE credit_entry ADD CONSTRAINT ${name}
               CHECK (reference IS DISTINCT FROM '${paymentIntentId}') NOT VALID`),
    );
    return { fix: () => database.db.execute(sql.raw(`ALTER TABLE credit_entry DROP CONSTRAINT ${name}`)) };
  }

  describe("a delivery that fails while the sandbox confirms a payment", () => {
    it("still answers succeeded, keeps the event, and a retried confirm delivers it once the cause is gone", async () => {
      const purchase = await startPurchase();
      const refusal = await refuseGrantOf(purchase.paymentIntentId);

      const answered = await confirm(purchase);

      expect(answered).toEqual({ status: "succeeded", paymentIntentId: purchase.paymentIntentId });
      expect(await balanceOf(purchase.userId)).toBe(0);
      const [waiting] = await outboxOf(purchase.paymentIntentId);
      expect(waiting).toMatchObject({ type: "payment_intent.succeeded", deliveredAt: null, attempts: 1 });
      expect(waiting?.lastError).toContain("refuse_");

      // Retried while the cause is still there: still succeeded, still nothing granted, still kept.
      expect((await confirm(purchase)).status).toBe("succeeded");
      expect(await balanceOf(purchase.userId)).toBe(0);

      await refusal.fix();
      expect((await confirm(purchase)).status).toBe("succeeded");

      expect(await balanceOf(purchase.userId)).toBe(500);
      expect(await purchaseGrants(purchase.userId)).toHaveLength(1);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
      expect((await outboxOf(purchase.paymentIntentId))[0]?.deliveredAt).toBeInstanceOf(Date);
      // The stored failure of that event was resolved by the delivery that succeeded.
      const [failure] = await database.db
        .select()
        .from(webhookFailure)
        .where(eq(webhookFailure.eventId, waiting?.id ?? ""));
      expect(failure).toMatchObject({ resolvedBy: "redelivery", resolution: "granted" });
      expect(failure?.resolvedAt).toBeInstanceOf(Date);
    });

    it("is delivered by the worker after its backoff, once, with nobody confirming again", async () => {
      const purchase = await startPurchase("basic");
      const refusal = await refuseGrantOf(purchase.paymentIntentId);
      expect((await confirm(purchase)).status).toBe("succeeded");
      // Not due yet: the first retry waits for its backoff.
      expect((await deliverDueSandboxEvents(database.db, WEBHOOK_SECRET)).delivered).toBe(0);
      // Due, but the cause is still there: the attempt fails and is rescheduled further out.
      expect(await workerPass()).toMatchObject({ delivered: 0, failed: 1 });
      const [rescheduled] = await outboxOf(purchase.paymentIntentId);
      expect(rescheduled?.attempts).toBe(2);
      expect(await balanceOf(purchase.userId)).toBe(0);

      await refusal.fix();
      const pass = await workerPass();

      expect(pass.delivered).toBeGreaterThanOrEqual(1);
      expect(await balanceOf(purchase.userId)).toBe(100);
      expect(await workerPass()).toEqual({ delivered: 0, failed: 0 });
      expect(await purchaseGrants(purchase.userId)).toHaveLength(1);
    });

    it("delivers a refund's event later too, and takes the credits back once", async () => {
      const purchase = await startPurchase();
      await confirm(purchase);
      expect(await balanceOf(purchase.userId)).toBe(500);
      // Refund entries are refused for a while.
      const name = "refuse_refunds_for_a_while";
      await database.db.execute(
        sql.raw(`ALTER TABLE credit_entry ADD CONSTRAINT ${name} CHECK (type <> 'refund') NOT VALID`),
      );
      try {
        await sandbox.refundPayment({
          paymentIntentId: purchase.paymentIntentId,
          idempotencyKey: `refund-${purchase.purchaseId}`,
        });
        expect(await balanceOf(purchase.userId)).toBe(500);
      } finally {
        await database.db.execute(sql.raw(`ALTER TABLE credit_entry DROP CONSTRAINT ${name}`));
      }

      await workerPass();

      expect(await balanceOf(purchase.userId)).toBe(0);
      expect(await purchaseRow(database.db, purchase.purchaseId)).toMatchObject({
        amountRefunded: 3999,
        clawedBackCredits: 500,
      });
      expect(await workerPass()).toEqual({ delivered: 0, failed: 0 });
    });
  });

  describe.runIf(kind === "postgres")("while the customer's account row is locked (PostgreSQL)", () => {
    it("answers the confirm, and the worker grants once the lock is released", async () => {
      const purchase = await startPurchase();
      await database.db.insert(creditAccount).values({ userId: purchase.userId });
      const locker = new pg.Client({ connectionString: database.url });
      await locker.connect();
      try {
        await locker.query("BEGIN");
        await locker.query("SELECT 1 FROM credit_account WHERE user_id = $1 FOR UPDATE", [purchase.userId]);

        // The grant waits for the lock until lock_timeout (5 s), fails, and the confirm still answers.
        const answered = await confirm(purchase);

        expect(answered.status).toBe("succeeded");
        expect(await balanceOf(purchase.userId)).toBe(0);
        const [waiting] = await outboxOf(purchase.paymentIntentId);
        expect(waiting?.deliveredAt).toBeNull();
        expect(waiting?.lastError).toMatch(/lock/i);
      } finally {
        await locker.query("ROLLBACK").catch(() => undefined);
        await locker.end();
      }

      await workerPass();

      expect(await balanceOf(purchase.userId)).toBe(500);
      expect(await purchaseGrants(purchase.userId)).toHaveLength(1);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    }, 30_000);

    it("schedules payment maintenance and sandbox deliveries once in pg-boss, for every instance", async () => {
      const url = database.url;
      if (!url) throw new Error("no database url");
      const stops = [await startJobs(database, url), await startJobs(database, url)];
      try {
        const schedules = (await database.db.execute(
          sql`SELECT name, cron FROM pgboss.schedule ORDER BY name`,
        )) as unknown as { rows: { name: string; cron: string }[] };
        expect(schedules.rows).toEqual(
          expect.arrayContaining([
            { name: PAYMENTS_QUEUE, cron: "*/15 * * * *" },
            { name: SANDBOX_DELIVERY_QUEUE, cron: "* * * * *" },
          ]),
        );
        // Two instances, one schedule each: pg-boss runs each occurrence once.
        expect(schedules.rows.filter((row) => row.name === PAYMENTS_QUEUE)).toHaveLength(1);
      } finally {
        for (const stop of stops) await stop();
      }
    }, 60_000);
  });

  describe("scheduled reconciliation", () => {
    it("grants a succeeded PaymentIntent whose webhook never arrived, once", async () => {
      const purchase = await startPurchase();
      // Paid at the provider, but its event never reached the app.
      await database.db
        .update(sandboxPaymentIntent)
        .set({ status: "succeeded" })
        .where(eq(sandboxPaymentIntent.id, purchase.paymentIntentId));

      // What reconciliation had to grant is logged at warn level: a webhook went missing.
      const warnings = vi.spyOn(logger, "warn");
      let first: Awaited<ReturnType<typeof runPaymentMaintenance>>;
      let logged: unknown[][];
      try {
        first = await runPaymentMaintenance(database.db, sandbox);
        logged = [...warnings.mock.calls];
      } finally {
        warnings.mockRestore();
      }
      const second = await runPaymentMaintenance(database.db, sandbox);

      expect(logged.some(([fields]) => JSON.stringify(fields).includes(purchase.paymentIntentId))).toBe(true);

      expect(first.reconcile.granted).toBeGreaterThanOrEqual(1);
      expect(second.reconcile.granted).toBe(0);
      expect(await balanceOf(purchase.userId)).toBe(500);
      expect(await purchaseGrants(purchase.userId)).toHaveLength(1);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    });

    it("looks back far enough to catch a payment from six days ago", async () => {
      const purchase = await startPurchase("basic");
      await database.db
        .update(sandboxPaymentIntent)
        .set({ status: "succeeded", createdAt: new Date(Date.now() - 6 * 24 * HOUR) })
        .where(eq(sandboxPaymentIntent.id, purchase.paymentIntentId));

      await runPaymentMaintenance(database.db, sandbox);

      expect(await balanceOf(purchase.userId)).toBe(100);
    });
  });

  describe("abandoned pay dialogs", () => {
    async function ageBy(purchaseId: string, hours: number) {
      await database.db.execute(
        sql`UPDATE credit_purchase SET created_at = now() - make_interval(hours => ${hours}) WHERE id = ${purchaseId}`,
      );
    }

    it("marks purchases still pending after a day abandoned, and leaves younger and paid ones alone", async () => {
      const stale = await startPurchase();
      const fresh = await startPurchase();
      const paidLongAgo = await startPurchase();
      await confirm(paidLongAgo);
      await ageBy(stale.purchaseId, 25);
      await ageBy(fresh.purchaseId, 23);
      await ageBy(paidLongAgo.purchaseId, 48);

      const result = await runPaymentMaintenance(database.db, sandbox);

      expect(result.abandoned).toBeGreaterThanOrEqual(1);
      expect((await purchaseRow(database.db, stale.purchaseId)).status).toBe("abandoned");
      expect((await purchaseRow(database.db, fresh.purchaseId)).status).toBe("pending");
      expect((await purchaseRow(database.db, paidLongAgo.purchaseId)).status).toBe("succeeded");
      // The customer and the admin lists see the status.
      expect((await getPurchaseForUser(database.db, stale.userId, stale.purchaseId)).status).toBe(
        "abandoned",
      );
      const listed = await listPurchases(database.db, { status: "abandoned", limit: 200 });
      expect(listed.map((row) => row.id)).toContain(stale.purchaseId);
    });

    // Abandoning cancels the PaymentIntent, as Stripe's cancel does: a pay dialog left open in some tab can
    // no longer take money for a purchase the app gave up on (the customer starts a new purchase).
    it("cancels an abandoned purchase's PaymentIntent, so its old pay dialog can no longer take money", async () => {
      const purchase = await startPurchase();
      await ageBy(purchase.purchaseId, 30);
      await runPaymentMaintenance(database.db, sandbox);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("abandoned");

      await expect(confirm(purchase)).rejects.toMatchObject({ code: "payment_intent_unexpected_state" });

      expect(await balanceOf(purchase.userId)).toBe(0);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("abandoned");
      const [intent] = await database.db
        .select({ status: sandboxPaymentIntent.status })
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, purchase.paymentIntentId));
      expect(intent?.status).toBe("canceled");
    });

    it("grants instead of abandoning a purchase whose payment went through but whose webhook is late", async () => {
      const purchase = await startPurchase("basic");
      await ageBy(purchase.purchaseId, 30);
      // Paid, but the event has not been delivered (and the PaymentIntent is older than reconciliation's window).
      await database.db
        .update(sandboxPaymentIntent)
        .set({ status: "succeeded", createdAt: new Date(Date.now() - 30 * 24 * 3600 * 1000) })
        .where(eq(sandboxPaymentIntent.id, purchase.paymentIntentId));

      await runPaymentMaintenance(database.db, sandbox);

      expect(await balanceOf(purchase.userId)).toBe(100);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    });

    it("grants an abandoned purchase through reconciliation when its payment's webhook never arrived", async () => {
      const purchase = await startPurchase("basic");
      await ageBy(purchase.purchaseId, 30);
      await runPaymentMaintenance(database.db, sandbox);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("abandoned");
      await database.db
        .update(sandboxPaymentIntent)
        .set({ status: "succeeded" })
        .where(eq(sandboxPaymentIntent.id, purchase.paymentIntentId));

      await runPaymentMaintenance(database.db, sandbox);

      expect(await balanceOf(purchase.userId)).toBe(100);
      expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    });
  });
});

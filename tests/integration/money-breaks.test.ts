import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Actor } from "../../src/audit/record-audit";
import { getBalance } from "../../src/credits/get-balance";
import { sandboxPaymentIntent } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { deliverDueSandboxEvents } from "../../src/payment/sandbox/deliver-sandbox-events";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { assertLedgerInvariants } from "../support/invariants";
import { purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_money_breaks";
const CARD_OK = "4242 4242 4242 4242";
const HOUR = 3600 * 1000;

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

  it("makes a second, deliberate partial refund from the admin form while the first one's event is still on its way", async () => {
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
      // The admin form (src/components/admin/refund-button.tsx) sends no requestId.
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
});

import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { creditPurchase, sandboxPaymentIntent } from "../../src/db/schema";
import { runPaymentMaintenance } from "../../src/jobs/run-payment-maintenance";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { confirmSandboxPayment } from "../../src/payment/sandbox/confirm-sandbox-payment";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { SANDBOX_TEST_CARDS } from "../../src/payment/sandbox/test-cards";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const WEBHOOK_SECRET = "whsec_break_abandon";

/**
 * A pay dialog where the first card was declined and that the customer then left open: its PaymentIntent
 * can still take a payment, exactly like one never tried. The maintenance job must give it up like a
 * pending one (cancel its PaymentIntent) and keep checking it, so a payment that still gets through is
 * granted even when its webhook is lost.
 */
describe.each(databaseKinds())("declined pay dialogs left open on %s", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    sandbox = new SandboxPaymentProvider(database.db, WEBHOOK_SECRET);
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  /** A Standard purchase whose first card was declined `daysAgo` days ago. */
  async function declined(daysAgo: number) {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, sandbox, { userId, packageId: "standard" });
    const answer = await confirmSandboxPayment(database.db, {
      paymentIntentId: created.paymentIntentId,
      userId,
      cardNumber: SANDBOX_TEST_CARDS.declined,
      webhookSecret: WEBHOOK_SECRET,
    });
    expect(answer.status).toBe("requires_payment_method");
    await database.db.execute(
      sql`UPDATE credit_purchase SET created_at = now() - make_interval(days => ${daysAgo}),
          updated_at = now() - make_interval(days => ${daysAgo}) WHERE id = ${created.purchaseId}`,
    );
    await database.db.execute(
      sql`UPDATE sandbox_payment_intent SET created_at = now() - make_interval(days => ${daysAgo})
          WHERE id = ${created.paymentIntentId}`,
    );
    return { userId, ...created };
  }

  const intentStatus = async (id: string) =>
    (await database.db.select().from(sandboxPaymentIntent).where(eq(sandboxPaymentIntent.id, id)))[0]?.status;
  const purchaseStatus = async (id: string) =>
    (await database.db.select().from(creditPurchase).where(eq(creditPurchase.id, id)))[0]?.status;

  it("a dialog declined a day ago is given up: its PaymentIntent is canceled", async () => {
    const p = await declined(2);
    expect(await purchaseStatus(p.purchaseId)).toBe("failed");
    await runPaymentMaintenance(database.db, sandbox);
    expect(await intentStatus(p.paymentIntentId)).toBe("canceled");
    expect(await purchaseStatus(p.purchaseId)).toBe("abandoned");
    // The customer comes back to the open dialog: the payment is refused, nothing is taken.
    await expect(
      confirmSandboxPayment(database.db, {
        paymentIntentId: p.paymentIntentId,
        userId: p.userId,
        cardNumber: SANDBOX_TEST_CARDS.succeeds,
        webhookSecret: WEBHOOK_SECRET,
      }),
    ).rejects.toThrow();
    expect((await getBalance(database.db, p.userId)).balance).toBe(0);
  });

  it("a declined dialog paid ten days later whose webhook is lost is granted by the maintenance job", async () => {
    const p = await declined(10);
    // Paid in the tab left open; the payment's event never arrives.
    await database.db
      .update(sandboxPaymentIntent)
      .set({ status: "succeeded" })
      .where(eq(sandboxPaymentIntent.id, p.paymentIntentId));
    await runPaymentMaintenance(database.db, sandbox);
    expect((await getBalance(database.db, p.userId)).balance).toBe(500);
    expect(await purchaseStatus(p.purchaseId)).toBe("succeeded");
  });
});

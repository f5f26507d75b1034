import { randomUUID } from "node:crypto";
import { and, desc, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listPurchases } from "../../src/admin/list-purchases";
import type { Actor } from "../../src/audit/record-audit";
import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditPurchase,
  invoiceProrationCredit,
  sandboxInvoice,
  sandboxSubscription,
  subscription,
} from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import changeSubscription from "../../src/routes/credits/change-subscription";
import { appRequest, readJson, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { handlerOf } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const DAY_MS = 24 * 60 * 60 * 1000;
const subscriptionPatch = handlerOf(changeSubscription);

// A monthly subscriber who switches to the yearly plan gets the unused part of the month credited on the
// yearly invoice and keeps the month's credits: that part of the monthly invoice's money went back to the
// customer already, so an admin refund of the monthly invoice may not pay it out a second time.
describe.each(databaseKinds())("refunds of an invoice a proration already credited (sandbox, %s)", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const refund = (purchaseId: string, amount?: number) =>
    refundPurchase(
      database.db,
      sandbox,
      { purchaseId, reason: "customer asked", ...(amount !== undefined ? { amount } : {}) },
      admin,
    );

  const purchasesOf = async (userId: string) =>
    database.db
      .select()
      .from(creditPurchase)
      .where(and(eq(creditPurchase.userId, userId), eq(creditPurchase.kind, "subscription_invoice")))
      .orderBy(creditPurchase.createdAt);

  /** Pro monthly paid, the clock moved `days` into the month, then switched to Pro yearly. */
  async function switchedToYearly(days: number) {
    const user = await signUp(`proration-refund-${randomUUID()}@example.test`);
    const { subscriptionId, paidStatus } = await subscribeAndPay(user, "pro-monthly");
    expect(paidStatus).toBe(200);
    const [row] = await database.db.select().from(subscription).where(eq(subscription.id, subscriptionId));
    const [sandboxRow] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, row?.providerSubscriptionId ?? ""));
    if (!sandboxRow) throw new Error("no sandbox subscription");
    await database.db
      .update(sandboxSubscription)
      .set({ clock: new Date(sandboxRow.currentPeriodStart.getTime() + days * DAY_MS) })
      .where(eq(sandboxSubscription.id, sandboxRow.id));
    const changed = await readJson<{ change: { kind: string; invoiceId: string } }>(
      await subscriptionPatch(
        appRequest("/api/credits/subscription", {
          method: "PATCH",
          cookie: user.cookie,
          json: { planId: "pro-yearly" },
        }),
      ),
    );
    expect(changed).toMatchObject({ status: 200, body: { change: { kind: "changed_now" } } });
    const [switched] = await database.db
      .select()
      .from(sandboxInvoice)
      .where(eq(sandboxInvoice.subscriptionId, sandboxRow.id))
      .orderBy(desc(sandboxInvoice.created))
      .limit(1);
    const creditLine = switched?.lines.find((line) => line.amount < 0);
    if (!creditLine) throw new Error("the switch has no credit line");
    const [monthly, yearly] = await purchasesOf(user.id);
    if (!monthly || !yearly) throw new Error("both invoices are purchases");
    return { user, monthly, yearly, credit: -creditLine.amount };
  }

  it("the refundable amount of the monthly invoice is what the yearly invoice did not credit back", async () => {
    const { user, monthly, yearly, credit } = await switchedToYearly(12);
    // About 18 of 30 or 31 days unused: the credit is most of the month, not all of it.
    expect(credit).toBeGreaterThan(1000);
    expect(credit).toBeLessThan(1900);
    expect(yearly.amount).toBe(19_000 - credit);

    // Recorded once against the monthly invoice, from the period its grant covered (the sandbox's line
    // names no credited invoice).
    expect(await database.db.select().from(invoiceProrationCredit)).toContainEqual(
      expect.objectContaining({
        creditedInvoiceId: monthly.invoiceId,
        creditingInvoiceId: yearly.invoiceId,
        amount: credit,
        source: "period",
      }),
    );

    // The admin console offers only the rest.
    const listed = (await listPurchases(database.db, { limit: 200 })).find((row) => row.id === monthly.id);
    expect(listed).toMatchObject({ amount: 1900, creditedByProration: credit, refundable: 1900 - credit });

    // More than the rest is refused with a clear error, and nothing is asked of the provider.
    await expect(refund(monthly.id, 1900)).rejects.toMatchObject({
      code: "refund_not_possible",
      context: { refundable: 1900 - credit, creditedByProration: credit },
      message: expect.stringContaining("credited back by a plan change's proration"),
    });
    await expect(refund(monthly.id, 1900 - credit + 1)).rejects.toMatchObject({
      code: "refund_not_possible",
    });
    expect((await purchasesOf(user.id))[0]?.amountRefunded).toBe(0);

    // "Refund the rest" refunds exactly the rest; then nothing is left.
    await refund(monthly.id);
    const [refunded] = await purchasesOf(user.id);
    expect(refunded?.amountRefunded).toBe(1900 - credit);
    await expect(refund(monthly.id)).rejects.toMatchObject({
      code: "refund_not_possible",
      context: { refundable: 0 },
    });
    const after = (await listPurchases(database.db, { limit: 200 })).find((row) => row.id === monthly.id);
    expect(after?.refundable).toBe(0);

    // The yearly invoice itself is refundable in full (what it charged after the credit).
    expect(
      (await listPurchases(database.db, { limit: 200 })).find((row) => row.id === yearly.id),
    ).toMatchObject({ refundable: yearly.amount, creditedByProration: 0 });
  });

  it("a partial refund within the rest goes through; a second one past the rest is refused", async () => {
    const { user, monthly, credit } = await switchedToYearly(20);
    const rest = 1900 - credit;
    expect(rest).toBeGreaterThan(100);
    await refund(monthly.id, 100);
    expect((await purchasesOf(user.id))[0]?.amountRefunded).toBe(100);
    await expect(refund(monthly.id, rest)).rejects.toMatchObject({
      code: "refund_not_possible",
      context: { refundable: rest - 100 },
    });
    await refund(monthly.id, rest - 100);
    expect((await purchasesOf(user.id))[0]?.amountRefunded).toBe(rest);
  });

  it("two admins refunding the rest at once: one goes through, the other is refused, never more than the rest", async () => {
    const { user, monthly, credit } = await switchedToYearly(15);
    const rest = 1900 - credit;
    // The rest is more than half the amount not credited, so two refunds of it would pay out too much.
    const results = await Promise.allSettled([refund(monthly.id), refund(monthly.id)]);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    expect(results.find((result) => result.status === "rejected")).toMatchObject({
      reason: { code: "refund_not_possible" },
    });
    expect((await purchasesOf(user.id))[0]?.amountRefunded).toBe(rest);
  });

  it("two partial refunds at once that together pass the rest: only what fits goes through", async () => {
    const { user, monthly, credit } = await switchedToYearly(15);
    const rest = 1900 - credit;
    const part = Math.floor(rest / 2) + 1;
    const results = await Promise.allSettled([refund(monthly.id, part), refund(monthly.id, part)]);
    expect(results.map((result) => result.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((await purchasesOf(user.id))[0]?.amountRefunded).toBe(part);
  });
});

import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import {
  creditLot,
  creditPurchase,
  sandboxEventOutbox,
  sandboxSubscription,
  subscriptionPeriodGrant,
} from "../../src/db/schema";
import { refundPurchase } from "../../src/payment/refund-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { appRequest, readJson, routeContext, type SignedUpUser, signUp } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { advancePost, cardPut } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { deliverSignedPayload } from "../support/stripe-subscriptions";
import { CARD_OK, subscribeAndPay } from "../support/subscriptions";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// The late-payment rule in the sandbox: a renewal declined (4000 0000 0000 0341 on file) and left unpaid
// until its period is over by the real clock, then paid with a new card. The customer gets the period's
// credits once, with time to use them, and the payment is a purchase an admin can refund.
const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "1000" });
afterAll(() => serverEnv.cleanup());

const CARD_FAILS_LATER = "4000 0000 0000 0341";
const DAY = 86_400_000;

describe.each(databaseKinds())("a sandbox renewal paid after its period ended (%s)", (kind) => {
  let database: TestDatabase;
  let sandbox: SandboxPaymentProvider;
  let adminId: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    sandbox = new SandboxPaymentProvider(database.db);
    adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const setCard = (user: SignedUpUser, subscriptionId: string, cardNumber: string) =>
    cardPut(
      appRequest(`/api/sandbox/subscriptions/${subscriptionId}/card`, {
        method: "PUT",
        cookie: user.cookie,
        json: { cardNumber },
      }),
      routeContext({ subscriptionId }),
    );
  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;

  /**
   * Moves every time of one sandbox subscription (its test clock, periods and invoices, our row, its grant
   * rows and its lots) `days` into the past: what the database holds when the subscription was made that
   * many days ago and left alone since. The sandbox's clock only moves forward, so this is how a test
   * reaches a renewal whose period has ended by the real clock.
   */
  async function madeDaysAgo(userId: string, subscriptionId: string, days: number) {
    const shift = sql`make_interval(days => ${days})`;
    const secs = days * 86_400;
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`UPDATE sandbox_subscription SET billing_cycle_anchor = billing_cycle_anchor - ${shift},
        current_period_start = current_period_start - ${shift}, current_period_end = current_period_end - ${shift},
        clock = clock - ${shift} WHERE subscription_row_id = ${subscriptionId}`);
      await tx.execute(sql`UPDATE sandbox_invoice i SET created = created - ${secs},
        lines = (SELECT jsonb_agg(jsonb_set(jsonb_set(l, '{period,start}', to_jsonb((l->'period'->>'start')::bigint - ${secs})),
                                            '{period,end}', to_jsonb((l->'period'->>'end')::bigint - ${secs})))
                 FROM jsonb_array_elements(i.lines) l)
        WHERE subscription_id = (SELECT id FROM sandbox_subscription WHERE subscription_row_id = ${subscriptionId})`);
      await tx.execute(sql`UPDATE subscription SET billing_cycle_anchor = billing_cycle_anchor - ${shift},
        current_period_start = current_period_start - ${shift}, current_period_end = current_period_end - ${shift}
        WHERE id = ${subscriptionId}`);
      await tx.execute(sql`UPDATE subscription_period_grant SET period_start = period_start - ${shift},
        period_end = period_end - ${shift} WHERE subscription_id = ${subscriptionId}`);
      await tx.execute(
        sql`UPDATE credit_lot SET expires_at = expires_at - ${shift} WHERE user_id = ${userId} AND expires_at IS NOT NULL`,
      );
    });
  }

  it("declined, left past due until its period is over, then paid: 1,000 credits once, still usable, refundable", async () => {
    const user = await signUp(`late-sbx-${randomUUID()}@example.test`);
    const { subscriptionId, paidStatus } = await subscribeAndPay(user);
    expect(paidStatus).toBe(200);
    expect((await setCard(user, subscriptionId, CARD_FAILS_LATER)).status).toBe(200);
    const renewal = await readJson<{ invoice: { id: string; status: string } | null }>(
      await advancePost(
        appRequest(`/api/sandbox/subscriptions/${subscriptionId}/advance`, { cookie: user.cookie, json: {} }),
        routeContext({ subscriptionId }),
      ),
    );
    expect(renewal.body.invoice?.status).toBe("open");
    const invoiceId = renewal.body.invoice?.id ?? "";
    // Period 1 began 65 days ago: period 2 (the declined renewal) ended a few days ago.
    await madeDaysAgo(user.id, subscriptionId, 65);
    const [sbx] = await database.db
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.subscriptionRowId, subscriptionId));
    expect(sbx?.currentPeriodEnd.getTime()).toBeLessThan(Date.now());
    expect(await balanceOf(user.id)).toBe(0);

    // A new card: the open invoice is retried at once and paid, its events delivered before the answer.
    expect((await setCard(user, subscriptionId, CARD_OK)).status).toBe(200);
    expect(await balanceOf(user.id)).toBe(1000);
    const [grant] = await database.db
      .select()
      .from(subscriptionPeriodGrant)
      .where(eq(subscriptionPeriodGrant.invoiceId, invoiceId));
    expect(grant).toMatchObject({ status: "granted", credits: 1000 });
    const [lot] = await database.db
      .select()
      .from(creditLot)
      .where(eq(creditLot.id, grant?.lotId ?? ""));
    // No period is in force (the subscription's own has ended too): a paid period's length from now.
    expect(lot?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 27 * DAY);

    // invoice.paid again under a new event id (a redelivery): nothing more.
    const [paidEvent] = await database.db
      .select()
      .from(sandboxEventOutbox)
      .where(
        and(
          eq(sandboxEventOutbox.type, "invoice.paid"),
          sql`${sandboxEventOutbox.payload} LIKE ${`%${invoiceId}%`}`,
        ),
      );
    if (!paidEvent) throw new Error("invoice.paid was sent");
    const replay = await deliverSignedPayload(
      paidEvent.payload.replace(/"id":"evt_[^"]+"/, `"id":"evt_replay_${randomUUID().slice(0, 8)}"`),
    );
    expect(replay.body.outcome).toBe("already_granted");
    expect(await balanceOf(user.id)).toBe(1000);

    // The payment is the invoice's purchase: an admin refunds it and the period's credits go back.
    const [purchase] = await database.db
      .select()
      .from(creditPurchase)
      .where(eq(creditPurchase.invoiceId, invoiceId));
    expect(purchase).toMatchObject({ status: "succeeded", credits: 1000, amount: 1900 });
    await refundPurchase(
      database.db,
      sandbox,
      { purchaseId: purchase?.id ?? "", reason: "paid for a month already over" },
      { userId: adminId, label: "ops@example.test" },
    );
    expect(await balanceOf(user.id)).toBe(0);
  });
});

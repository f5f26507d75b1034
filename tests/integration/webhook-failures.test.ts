import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { listWebhookFailures } from "../../src/admin/list-webhook-failures";
import { retryWebhookFailure } from "../../src/admin/retry-webhook-failure";
import type { Actor } from "../../src/audit/record-audit";
import { getBalance } from "../../src/credits/get-balance";
import { verifyLedger } from "../../src/credits/verify-ledger";
import { useDatabaseConnection } from "../../src/db/client";
import { auditLog, webhookFailure } from "../../src/db/schema";
import { logger } from "../../src/lib/logger";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { webhookSigningSecret } from "../../src/payment/payment-config";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { APP_ORIGIN } from "../support/app-requests";
import { assertLedgerInvariants } from "../support/invariants";
import { webhookPost } from "../support/route-handlers";
import { entriesOf, purchaseRow } from "../support/rows";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  disputeObject,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
} from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// Sandbox mode: the webhook route checks signatures against the sandbox's generated secret.
const serverEnv = configureServerEnv();
afterAll(() => serverEnv.cleanup());

type Delivery = {
  status: number;
  body: { received?: boolean; outcome?: string; error?: { code: string; retryable?: boolean } };
};

/** POSTs a correctly signed event to the webhook route, the way Stripe does. */
async function deliverSigned(payload: string): Promise<Delivery> {
  const response = await webhookPost(
    new Request(`${APP_ORIGIN}/api/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": signPayload(payload, webhookSigningSecret()),
      },
      body: payload,
    }),
  );
  return { status: response.status, body: (await response.json()) as Delivery["body"] };
}

const eventIdOf = (payload: string) => (JSON.parse(payload) as { id: string }).id;

describe.each(databaseKinds())("verified webhook events that fail on %s", (kind) => {
  let database: TestDatabase;
  let admin: Actor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    const adminId = await seedUser(database.db, { email: `ops-${randomUUID()}@example.test`, role: "admin" });
    admin = { userId: adminId, label: "ops@example.test" };
  });
  // Every test ends with nothing left unresolved: `verify` counts unresolved failures as violations.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  /** A pending Standard purchase and the payment_intent.succeeded event Stripe would send for it. */
  async function purchaseWithEvent() {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const payload = stripeEventPayload(
      "payment_intent.succeeded",
      paymentIntentObject({
        id: created.paymentIntentId,
        amount: 3999,
        currency: "usd",
        metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
      }),
    );
    return { userId, ...created, payload, eventId: eventIdOf(payload) };
  }

  /** The database refuses this PaymentIntent's grant (a real CHECK constraint) until `fix` drops it. */
  async function refuseGrantOf(paymentIntentId: string) {
    const name = `refuse_${paymentIntentId.replace(/\W/g, "_")}`.slice(0, 60);
    await database.db.execute(
      sql.raw(`ALTER TABLE credit_entry ADD CONSTRAINT ${name}
               CHECK (reference IS DISTINCT FROM '${paymentIntentId}') NOT VALID`),
    );
    return {
      name,
      fix: () => database.db.execute(sql.raw(`ALTER TABLE credit_entry DROP CONSTRAINT ${name}`)),
    };
  }

  const balanceOf = async (userId: string) => (await getBalance(database.db, userId)).balance;
  const grantsOf = async (userId: string) =>
    (await entriesOf(database.db, userId)).filter((entry) => entry.type === "purchase");
  const failureRow = async (eventId: string) =>
    (await database.db.select().from(webhookFailure).where(eq(webhookFailure.eventId, eventId)))[0];

  it("answers 5xx, stores the event with its reason, lists it, counts it in verify, and an admin's retry grants once", async () => {
    const purchase = await purchaseWithEvent();
    const refusal = await refuseGrantOf(purchase.paymentIntentId);

    const failed = await deliverSigned(purchase.payload);

    expect(failed.status).toBe(500);
    expect(failed.body.error?.retryable).toBe(true);
    expect(await balanceOf(purchase.userId)).toBe(0);
    const stored = await failureRow(purchase.eventId);
    expect(stored).toMatchObject({
      eventType: "payment_intent.succeeded",
      payload: purchase.payload,
      attempts: 1,
      resolvedAt: null,
    });
    expect(stored?.reason).toContain(refusal.name);
    expect((await listWebhookFailures(database.db)).map((row) => row.eventId)).toContain(purchase.eventId);
    expect((await verifyLedger(database.db)).violations).toEqual([
      expect.objectContaining({
        check: "webhook_failures_unresolved",
        detail: expect.stringContaining(purchase.eventId),
      }),
    ]);

    // Retried before the cause is fixed: it fails again, stays listed with the new attempt, is audited.
    const tooEarly = await retryWebhookFailure(database.db, purchase.eventId, admin);
    expect(tooEarly).toMatchObject({ resolved: false, reason: expect.stringContaining(refusal.name) });
    expect((await failureRow(purchase.eventId))?.attempts).toBe(2);
    expect(await balanceOf(purchase.userId)).toBe(0);

    await refusal.fix();
    const retried = await retryWebhookFailure(database.db, purchase.eventId, admin);

    expect(retried).toEqual({ resolved: true, outcome: "granted" });
    expect(await balanceOf(purchase.userId)).toBe(500);
    expect(await grantsOf(purchase.userId)).toHaveLength(1);
    expect((await purchaseRow(database.db, purchase.purchaseId)).status).toBe("succeeded");
    expect(await failureRow(purchase.eventId)).toMatchObject({
      resolvedBy: admin.label,
      resolution: "granted",
      resolvedAt: expect.any(Date),
    });
    expect(await listWebhookFailures(database.db)).toEqual([]);
    expect(
      (await listWebhookFailures(database.db, { includeResolved: true })).map((row) => row.eventId),
    ).toContain(purchase.eventId);
    const audits = await database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, "webhook.retry"), eq(auditLog.actorUserId, admin.userId ?? "")));
    expect(
      audits.filter((row) => row.details.eventId === purchase.eventId).map((row) => row.details),
    ).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ eventId: purchase.eventId, error: "internal_error" }),
        expect.objectContaining({ eventId: purchase.eventId, outcome: "granted" }),
      ]),
    );

    // Stripe's own retry arrives afterwards: nothing more is granted.
    expect(await deliverSigned(purchase.payload)).toEqual({
      status: 200,
      body: { received: true, outcome: "duplicate" },
    });
    expect(await balanceOf(purchase.userId)).toBe(500);
    // A second retry from the console changes nothing either.
    expect(await retryWebhookFailure(database.db, purchase.eventId, admin)).toEqual({
      resolved: true,
      outcome: "granted",
    });
    expect(await grantsOf(purchase.userId)).toHaveLength(1);
  });

  it("is resolved by a later successful delivery of the same event from Stripe", async () => {
    const purchase = await purchaseWithEvent();
    const refusal = await refuseGrantOf(purchase.paymentIntentId);
    expect((await deliverSigned(purchase.payload)).status).toBe(500);
    await refusal.fix();

    const redelivered = await deliverSigned(purchase.payload);

    expect(redelivered).toEqual({ status: 200, body: { received: true, outcome: "granted" } });
    expect(await failureRow(purchase.eventId)).toMatchObject({
      resolvedBy: "redelivery",
      resolution: "granted",
      resolvedAt: expect.any(Date),
    });
    expect(await balanceOf(purchase.userId)).toBe(500);
  });

  it("answers 5xx, never 4xx, when a validly signed event is refused because of our own state", async () => {
    const purchase = await purchaseWithEvent();
    // The purchase's own snapshot is inconsistent (a negative expiry): the ledger refuses the grant
    // with an input error, which on another route would be a 400.
    await database.db.execute(
      sql`UPDATE credit_purchase SET expire_days = -1 WHERE id = ${purchase.purchaseId}`,
    );

    // The operator must notice: an error-level log line naming the event (not an info-level "refused").
    const errors = vi.spyOn(logger, "error");
    let refused: Delivery;
    let logged: unknown[][];
    try {
      refused = await deliverSigned(purchase.payload);
      logged = [...errors.mock.calls];
    } finally {
      errors.mockRestore();
    }

    expect(logged.some(([fields]) => JSON.stringify(fields).includes(purchase.eventId))).toBe(true);
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(refused.body.error).toMatchObject({ retryable: true });
    expect((await failureRow(purchase.eventId))?.errorCode).toBe("invalid_input");
    expect(await balanceOf(purchase.userId)).toBe(0);

    // Fixed, then retried by an admin: granted once.
    await database.db.execute(
      sql`UPDATE credit_purchase SET expire_days = NULL WHERE id = ${purchase.purchaseId}`,
    );
    expect(await retryWebhookFailure(database.db, purchase.eventId, admin)).toEqual({
      resolved: true,
      outcome: "granted",
    });
    expect(await balanceOf(purchase.userId)).toBe(500);
  });

  // A status from a newer API version must not be guessed at (it could give or take credits wrongly), nor
  // acknowledged and forgotten: the event fails like any other, stays visible, and is retried.
  it("answers 5xx for a dispute whose status the code does not know, stores it, and changes nothing", async () => {
    const purchase = await purchaseWithEvent();
    expect((await deliverSigned(purchase.payload)).status).toBe(200);
    const payload = stripeEventPayload(
      "charge.dispute.updated",
      disputeObject({
        id: `dp_${purchase.paymentIntentId}`,
        amount: 3999,
        currency: "usd",
        charge: `ch_${purchase.paymentIntentId}`,
        payment_intent: purchase.paymentIntentId,
        status: "appeal_won_partially",
      }),
    );

    const first = await deliverSigned(payload);
    const again = await deliverSigned(payload);

    expect(first.status).toBe(500);
    expect(first.body.error?.retryable).toBe(true);
    expect(again.status).toBe(500);
    expect(await balanceOf(purchase.userId)).toBe(500);
    expect(await failureRow(eventIdOf(payload))).toMatchObject({
      eventType: "charge.dispute.updated",
      payload,
      errorCode: "unknown_event_value",
      attempts: 2,
      resolvedAt: null,
    });
    expect((await verifyLedger(database.db)).violations.map((v) => v.check)).toContain(
      "webhook_failures_unresolved",
    );
    const retried = await retryWebhookFailure(database.db, eventIdOf(payload), admin);
    expect(retried).toMatchObject({ resolved: false, errorCode: "unknown_event_value" });
    // Set aside, so that the suite's closing check applies to everything else.
    await database.db
      .update(webhookFailure)
      .set({ resolvedAt: new Date(), resolvedBy: "test" })
      .where(eq(webhookFailure.eventId, eventIdOf(payload)));
  });

  it("answers not_found for a failure that does not exist", async () => {
    await expect(retryWebhookFailure(database.db, "evt_unknown", admin)).rejects.toMatchObject({
      code: "not_found",
    });
  });
});

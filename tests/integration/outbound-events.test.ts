import { randomUUID } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { captureHold } from "../../src/credits/capture-hold";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { setLowBalanceThreshold } from "../../src/credits/set-low-balance-threshold";
import { outboundEvent, webhookDelivery } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import { runSweep } from "../../src/jobs/run-sweep";
import { createWebhookEndpoint } from "../../src/outbound/create-webhook-endpoint";
import { OUTBOUND_EVENT_TYPES, type OutboundEvent } from "../../src/outbound/event-types";
import { setWebhookEndpointEnabled } from "../../src/outbound/set-webhook-endpoint-enabled";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { useAppDatabase } from "../support/app-database";
import { appRequest, routeContext, signUp } from "../support/app-requests";
import { subscriptionDelete } from "../support/route-handlers";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import {
  chargeObject,
  disputeObject,
  paymentIntentObject,
  signPayload,
  stripeEventPayload,
  testId,
} from "../support/stripe-events";
import { subscribeAndPay } from "../support/subscriptions";
import { databaseKinds } from "../support/test-database";

// The sandbox (no Stripe keys) for the subscription case.
const serverEnv = configureServerEnv({ RATE_LIMIT_PURCHASES_PER_MINUTE: "100" });
afterAll(() => serverEnv.cleanup());

const HOUR = 3_600_000;
const STRIPE_SECRET = "whsec_outbound_tests";

/** The events written for one account, in the order they were written. */
async function eventsOf(db: Database, userId: string): Promise<OutboundEvent[]> {
  const rows = await db
    .select({ payload: outboundEvent.payload })
    .from(outboundEvent)
    .where(eq(outboundEvent.userId, userId))
    .orderBy(asc(outboundEvent.seq));
  return rows.map((row) => row.payload as unknown as OutboundEvent);
}

const typesOf = (events: OutboundEvent[]) => events.map((event) => event.type);

/**
 * The outbox: every ledger change writes its events in its own transaction, through triggers, whatever
 * the entry point (TypeScript use case, SQL function, webhook handler, sweep).
 */
describe.each(databaseKinds())("outbound events are written with the change on %s", (kind) => {
  const database = useAppDatabase(kind);

  it("writes nothing while no enabled endpoint wants the type", async () => {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 10,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    await consumeCredits(database.db, { userId, amount: 10, description: "s", idempotencyKey: "s" });
    // An endpoint for another type, and a disabled one for these, write nothing either.
    await createWebhookEndpoint(database.db, {
      url: "https://example.com/a",
      eventTypes: ["purchase.refunded"],
    });
    const off = await createWebhookEndpoint(database.db, {
      url: "https://example.com/b",
      eventTypes: ["credits.granted", "credits.consumed"],
    });
    await setWebhookEndpointEnabled(database.db, { endpointId: off.id, enabled: false });
    await addCredits(database.db, {
      userId,
      amount: 5,
      type: "grant",
      description: "g",
      idempotencyKey: "g2",
    });
    expect(await eventsOf(database.db, userId)).toEqual([]);
  });

  let endpointId: string | undefined;
  /** One endpoint that wants every type (made once for the tests below). */
  async function listening(): Promise<string> {
    endpointId ??= (
      await createWebhookEndpoint(database.db, {
        url: "https://example.com/all",
        eventTypes: [...OUTBOUND_EVENT_TYPES],
      })
    ).id;
    return endpointId;
  }

  it("a grant and a spend write credits.granted and credits.consumed with what a receiver needs", async () => {
    const endpoint = await listening();
    const userId = await seedUser(database.db);
    const granted = await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "welcome",
      idempotencyKey: "grant-1",
      expiresAt: new Date(Date.now() + 30 * 24 * HOUR),
    });
    const spent = await consumeCredits(database.db, {
      userId,
      amount: 30,
      description: "an image",
      idempotencyKey: "spend-1",
    });
    if (!spent.ok) throw new Error("spend refused");
    const events = await eventsOf(database.db, userId);
    // The entry is written before the account row moves, so the grant comes before the recovery from 0.
    expect(typesOf(events)).toEqual(["credits.granted", "balance.recovered", "credits.consumed"]);
    const grantEvent = events.find((event) => event.type === "credits.granted");
    const spendEvent = events.find((event) => event.type === "credits.consumed");
    expect(grantEvent).toMatchObject({
      id: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      account: { userId, externalId: null },
      data: {
        entryId: String(granted.entryId),
        entryType: "grant",
        amount: 100,
        balanceAfter: 100,
        idempotencyKey: "grant-1",
        lotId: granted.lotId,
        category: "promotional",
      },
    });
    expect(new Date(grantEvent?.createdAt ?? "").toISOString()).toBe(grantEvent?.createdAt);
    expect(grantEvent?.data.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(spendEvent).toMatchObject({
      account: { userId, externalId: null },
      data: {
        entryId: String(spent.entryId),
        entryType: "consume",
        amount: 30,
        balanceAfter: 70,
        idempotencyKey: "spend-1",
        description: "an image",
      },
    });
    // One delivery per event to the listening endpoint (fanned out at write time).
    const deliveries = await database.db
      .select()
      .from(webhookDelivery)
      .where(eq(webhookDelivery.userId, userId));
    expect(deliveries).toHaveLength(events.length);
    expect(new Set(deliveries.map((d) => d.endpointId))).toEqual(new Set([endpoint]));
    // A replayed spend changes nothing and writes nothing.
    await consumeCredits(database.db, {
      userId,
      amount: 30,
      description: "an image",
      idempotencyKey: "spend-1",
    });
    expect(await eventsOf(database.db, userId)).toHaveLength(events.length);
  });

  it("a spend that rolls back leaves no event; the same spend committed leaves one", async () => {
    await listening();
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 50,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    const before = (await eventsOf(database.db, userId)).length;
    let seenInside = 0;
    await expect(
      database.db.transaction(async (tx) => {
        const spent = await consumeCredits(tx, { userId, amount: 20, description: "s", idempotencyKey: "s" });
        expect(spent.ok).toBe(true);
        // Inside the transaction the event is there (the trigger wrote it with the entry)...
        seenInside = (await eventsOf(tx as unknown as Database, userId)).length;
        throw new Error("the caller's work failed after the spend");
      }),
    ).rejects.toThrow("the caller's work failed");
    expect(seenInside).toBe(before + 1);
    // ...and the rollback took it away with the entry.
    expect(await eventsOf(database.db, userId)).toHaveLength(before);
    await consumeCredits(database.db, { userId, amount: 20, description: "s", idempotencyKey: "s" });
    expect(typesOf(await eventsOf(database.db, userId)).slice(before)).toEqual(["credits.consumed"]);
  });

  it("balance.low, balance.depleted and balance.recovered mark crossings of the available balance", async () => {
    await listening();
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    await setLowBalanceThreshold(database.db, { userId, threshold: 50 });
    const start = (await eventsOf(database.db, userId)).length;
    const spend = (amount: number, key: string) =>
      consumeCredits(database.db, { userId, amount, description: "s", idempotencyKey: key });
    await spend(40, "a"); // 60: above the threshold
    await spend(20, "b"); // 40: crossed below 50
    await spend(10, "c"); // 30: still low, no second event
    // A hold reserving the rest takes the available balance to 0 without an entry.
    const hold = await createHold(database.db, {
      userId,
      amount: 30,
      description: "job",
      idempotencyKey: "h",
    });
    if (!hold.ok) throw new Error("hold refused");
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g2",
    });
    await spend(80, "d"); // 100 available → 20: low again
    const events = (await eventsOf(database.db, userId)).slice(start);
    expect(typesOf(events).filter((type) => type.startsWith("balance."))).toEqual([
      "balance.low",
      "balance.depleted",
      "balance.recovered",
      "balance.low",
    ]);
    expect(events.find((event) => event.type === "balance.depleted")?.data).toMatchObject({
      available: 0,
      availableBefore: 30,
      balance: 30,
      held: 30,
      lowBalanceThreshold: 50,
    });
    expect(events.find((event) => event.type === "balance.low")?.data).toMatchObject({
      available: 40,
      availableBefore: 60,
    });
  });

  it("concurrent spends cross each threshold once", async () => {
    await listening();
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    await setLowBalanceThreshold(database.db, { userId, threshold: 50 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.db.transaction((tx) =>
          consumeCredits(tx, { userId, amount: 5, description: "s", idempotencyKey: `s${i}` }),
        ),
      ),
    );
    const types = typesOf(await eventsOf(database.db, userId));
    expect(types.filter((type) => type === "credits.consumed")).toHaveLength(20);
    expect(types.filter((type) => type === "balance.low")).toHaveLength(1);
    expect(types.filter((type) => type === "balance.depleted")).toHaveLength(1);
  });

  it("expiry, hold expiry and a capture write credits.expired, hold.expired and credits.consumed", async () => {
    await listening();
    const userId = await seedUser(database.db);
    const start = new Date("2033-01-01T00:00:00Z");
    await addCredits(
      database.db,
      {
        userId,
        amount: 40,
        type: "grant",
        description: "short",
        idempotencyKey: "short",
        expiresAt: new Date(start.getTime() + HOUR),
      },
      start,
    );
    await addCredits(
      database.db,
      { userId, amount: 60, type: "grant", description: "long", idempotencyKey: "long" },
      start,
    );
    const captured = await createHold(
      database.db,
      { userId, amount: 10, description: "captured", idempotencyKey: "h1", ttlSeconds: 7200 },
      start,
    );
    const left = await createHold(
      database.db,
      { userId, amount: 5, description: "left open", idempotencyKey: "h2", ttlSeconds: 60 },
      start,
    );
    if (!captured.ok || !left.ok) throw new Error("hold refused");
    await captureHold(database.db, { holdId: captured.holdId, amount: 4 }, start);
    const before = (await eventsOf(database.db, userId)).length;
    await runSweep(database.db, new Date(start.getTime() + 2 * HOUR));
    const events = (await eventsOf(database.db, userId)).slice(before);
    expect(typesOf(events)).toContain("credits.expired");
    expect(typesOf(events)).toContain("hold.expired");
    expect(events.find((event) => event.type === "hold.expired")?.data).toMatchObject({
      holdId: left.holdId,
      amount: 5,
      idempotencyKey: "h2",
    });
    expect(events.find((event) => event.type === "credits.expired")?.data).toMatchObject({
      entryType: "expire",
    });
    const capture = (await eventsOf(database.db, userId)).find(
      (event) => event.type === "credits.consumed" && event.data.reference === captured.holdId,
    );
    expect(capture?.data).toMatchObject({ amount: 4 });
  });

  it("a purchase, its refund and a dispute write purchase.* and credits.clawed_back", async () => {
    await listening();
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const metadata = { purchaseId: created.purchaseId, userId, packageId: "standard" };
    const deliver = (type: string, object: Record<string, unknown>) => {
      const rawBody = stripeEventPayload(type, object, testId("evt"));
      return receiveWebhook(database.db, {
        rawBody,
        signature: signPayload(rawBody, STRIPE_SECRET),
        secret: STRIPE_SECRET,
      });
    };
    await deliver(
      "payment_intent.succeeded",
      paymentIntentObject({ id: created.paymentIntentId, amount: 3999, currency: "usd", metadata }),
    );
    await deliver(
      "charge.refunded",
      chargeObject({
        id: `ch_for_${created.paymentIntentId}`,
        amount: 3999,
        amount_refunded: 1000,
        currency: "usd",
        payment_intent: created.paymentIntentId,
      }),
    );
    await deliver(
      "charge.dispute.created",
      disputeObject({
        id: `dp_for_${created.paymentIntentId}`,
        amount: 2999,
        currency: "usd",
        charge: `ch_for_${created.paymentIntentId}`,
        payment_intent: created.paymentIntentId,
        status: "needs_response",
      }),
    );
    const events = await eventsOf(database.db, userId);
    const types = typesOf(events);
    expect(types).toEqual(
      expect.arrayContaining([
        "purchase.succeeded",
        "credits.granted",
        "purchase.refunded",
        "purchase.disputed",
      ]),
    );
    expect(types.filter((type) => type === "credits.clawed_back").length).toBeGreaterThanOrEqual(1);
    expect(events.find((event) => event.type === "purchase.succeeded")?.data).toMatchObject({
      purchaseId: created.purchaseId,
      amount: 3999,
      currency: "usd",
      credits: 500,
    });
    expect(events.find((event) => event.type === "purchase.refunded")?.data).toMatchObject({
      purchaseId: created.purchaseId,
      amountRefunded: 1000,
      refundedNow: 1000,
    });
    expect(events.find((event) => event.type === "credits.clawed_back")?.data).toMatchObject({
      purchaseId: created.purchaseId,
      entryType: "refund",
    });
    expect(events.find((event) => event.type === "purchase.disputed")?.data).toMatchObject({
      disputeStatus: "needs_response",
    });
  });

  it("subscribing and cancelling write subscription.started and subscription.updated", async () => {
    await listening();
    const subscriber = await signUp(`outbound-${randomUUID()}@example.test`);
    const { subscriptionId, paidStatus } = await subscribeAndPay(subscriber);
    expect(paidStatus).toBe(200);
    const cancelled = await subscriptionDelete(
      appRequest("/api/credits/subscription", { cookie: subscriber.cookie, method: "DELETE" }),
      routeContext({}),
    );
    expect(cancelled.status).toBe(200);
    const events = await eventsOf(database.db, subscriber.id);
    const started = events.find((event) => event.type === "subscription.started");
    expect(started?.data).toMatchObject({ subscriptionId, status: "active", planId: "pro-monthly" });
    const updates = events
      .filter((event) => event.type === "subscription.updated")
      .map((event) => event.data);
    expect(updates.at(-1)).toMatchObject({ subscriptionId, cancelAtPeriodEnd: true });
    // The invoice's payment is a purchase too.
    expect(typesOf(events)).toEqual(expect.arrayContaining(["purchase.succeeded", "credits.granted"]));
  });
});

import { desc, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { webhookDelivery, webhookDeliveryAttempt, webhookEndpoint } from "../../src/db/schema";
import { createWebhookEndpoint } from "../../src/outbound/create-webhook-endpoint";
import { deleteWebhookEndpoint } from "../../src/outbound/delete-webhook-endpoint";
import { deliverDueWebhooks, runWebhookDelivery } from "../../src/outbound/deliver-webhooks";
import { resendWebhookDelivery } from "../../src/outbound/resend-webhook-delivery";
import { closedPort } from "../support/net";
import { seedUser } from "../support/seed";
import { databaseKinds, useTestDatabase } from "../support/test-database";
import { type ReceiverMode, startWebhookReceiver, verifyWebhook } from "../support/webhook-receiver";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * Delivery of outbound events to a real local HTTP receiver: at least once, signed (Standard Webhooks),
 * retried with backoff for three days, in order per account. A fake clock (`now`) jumps over the backoff.
 */
describe.each(databaseKinds())("outbound event delivery on %s", (kind) => {
  const database = useTestDatabase(kind);

  /** An endpoint for the credits events of a receiver answering with `answer`; each test its own. */
  async function setUp(answer?: (request: { id: string; count: number }) => ReceiverMode, url?: string) {
    const receiver = await startWebhookReceiver(answer);
    const endpoint = await createWebhookEndpoint(database.db, {
      url: url ?? receiver.url,
      eventTypes: ["credits.granted", "credits.consumed"],
    });
    return { receiver, endpoint };
  }

  /** `count` ledger changes for a new user: one grant, then spends of 1. Returns the user. */
  async function changes(count: number): Promise<string> {
    const userId = await seedUser(database.db);
    await addCredits(database.db, {
      userId,
      amount: 100,
      type: "grant",
      description: "g",
      idempotencyKey: "g",
    });
    for (let i = 1; i < count; i++)
      await consumeCredits(database.db, { userId, amount: 1, description: `s${i}`, idempotencyKey: `s${i}` });
    return userId;
  }

  /** Runs the worker at `now` (real time when omitted) until nothing is due. */
  const work = (now?: Date, timeoutMs = 2_000) => runWebhookDelivery(database.db, { now, timeoutMs });

  it("delivers every event once, signed with the endpoint's secret, in the order the ledger wrote them", async () => {
    const { receiver, endpoint } = await setUp();
    try {
      const a = await changes(4);
      const b = await changes(3);
      await work();
      const accepted = receiver.accepted();
      expect(accepted).toHaveLength(7);
      expect(receiver.received).toHaveLength(7);
      const events = accepted.map((request) => verifyWebhook(endpoint.secret, request));
      for (const [i, event] of events.entries()) expect(event.id).toBe(accepted[i]?.id);
      const balancesOf = (userId: string) =>
        events.filter((event) => event.account.userId === userId).map((event) => event.data.balanceAfter);
      expect(balancesOf(a)).toEqual([100, 99, 98, 97]);
      expect(balancesOf(b)).toEqual([100, 99, 98]);
      // A body signed with another secret, or altered, does not verify.
      const first = accepted[0];
      if (!first) throw new Error("nothing received");
      expect(() => verifyWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", first)).toThrow();
      expect(() =>
        verifyWebhook(endpoint.secret, { ...first, body: first.body.replace("100", "900") }),
      ).toThrow();
    } finally {
      await receiver.close();
      await deleteWebhookEndpoint(database.db, endpoint.id);
    }
  });

  it("a receiver answering 500 for a while gets every event after it recovers, same ids, order kept", async () => {
    let failing = true;
    const { receiver, endpoint } = await setUp(() => (failing ? { status: 500 } : { status: 204 }));
    try {
      const userId = await changes(3);
      await work();
      // Only the head of the account's queue was tried: the later events wait behind it.
      expect(receiver.received).toHaveLength(1);
      const firstId = receiver.received[0]?.id;
      // Before the backoff has passed nothing is sent again.
      await work(new Date(Date.now() + 10_000));
      expect(receiver.received).toHaveLength(1);
      await work(new Date(Date.now() + 2 * MINUTE));
      expect(receiver.received).toHaveLength(2);
      failing = false;
      await work(new Date(Date.now() + 10 * MINUTE));
      const accepted = receiver.accepted();
      expect(accepted.map((request) => verifyWebhook(endpoint.secret, request).data.balanceAfter)).toEqual([
        100, 99, 98,
      ]);
      // The retries carried the first attempt's id (a receiver drops duplicates by it).
      expect(receiver.received.slice(0, 3).map((request) => request.id)).toEqual([firstId, firstId, firstId]);
      const [row] = await database.db
        .select()
        .from(webhookDelivery)
        .where(eq(webhookDelivery.eventId, firstId ?? ""));
      expect(row).toMatchObject({ status: "delivered", attempts: 3, lastStatusCode: 204 });
      const attempts = await database.db
        .select()
        .from(webhookDeliveryAttempt)
        .where(eq(webhookDeliveryAttempt.deliveryId, row?.id ?? ""));
      expect(attempts.map((attempt) => attempt.statusCode)).toEqual([500, 500, 204]);
      expect(attempts[0]?.responseBody).toBe("failure 500");
      expect(userId).toBeTruthy();
    } finally {
      await receiver.close();
      await deleteWebhookEndpoint(database.db, endpoint.id);
    }
  });

  it("a receiver that is down, then slow past the timeout, then well, gets everything", async () => {
    const port = await closedPort();
    let phase: "slow" | "well" = "slow";
    const receiver = await startWebhookReceiver(() => (phase === "slow" ? "hang" : { status: 200 }));
    const endpoint = await createWebhookEndpoint(database.db, {
      url: `http://127.0.0.1:${port}/hooks`,
      eventTypes: ["credits.granted", "credits.consumed"],
    });
    try {
      await changes(2);
      await work();
      // Down: nothing answered; the attempt says why.
      const [down] = await database.db
        .select()
        .from(webhookDeliveryAttempt)
        .orderBy(desc(webhookDeliveryAttempt.id));
      expect(down).toMatchObject({ statusCode: null, error: expect.stringMatching(/ECONNREFUSED/) });
      // The operator's receiver comes up, but hangs for now.
      await database.db
        .update(webhookEndpoint)
        .set({ url: receiver.url })
        .where(eq(webhookEndpoint.id, endpoint.id));
      const started = performance.now();
      await work(new Date(Date.now() + 2 * MINUTE), 500);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(receiver.received).toHaveLength(1);
      phase = "well";
      await work(new Date(Date.now() + 30 * MINUTE));
      expect(receiver.accepted()).toHaveLength(2);
      const [slow] = await database.db
        .select()
        .from(webhookDeliveryAttempt)
        .where(eq(webhookDeliveryAttempt.error, "timed out after 500 ms"));
      expect(slow).toMatchObject({ statusCode: null });
    } finally {
      await receiver.close();
      await deleteWebhookEndpoint(database.db, endpoint.id);
    }
  });

  it("gives up after three days, lets the next event through, and a resend delivers it with the same id", async () => {
    let failing = true;
    const { receiver, endpoint } = await setUp(() => (failing ? { status: 503 } : { status: 200 }));
    try {
      await changes(2);
      const start = Date.now();
      // Attempt after attempt, following the backoff, until the three days are up.
      for (let hours = 0; hours <= 80; hours += 2) await work(new Date(start + hours * 60 * MINUTE));
      const deliveries = await database.db
        .select()
        .from(webhookDelivery)
        .where(eq(webhookDelivery.endpointId, endpoint.id))
        .orderBy(webhookDelivery.eventSeq);
      expect(deliveries.map((d) => d.status)).toEqual(["failed", "failed"]);
      const first = deliveries[0];
      if (!first) throw new Error("no delivery");
      expect(first.attempts).toBeGreaterThan(10);
      // It was given up by the first attempt made once the three days were up.
      expect(first.lastAttemptAt?.getTime()).toBeGreaterThanOrEqual(first.giveUpAt.getTime());
      expect(first.giveUpAt.getTime() - first.createdAt.getTime()).toBe(3 * DAY);
      failing = false;
      await resendWebhookDelivery(database.db, first.id);
      await work();
      expect(receiver.accepted().map((request) => request.id)).toEqual([first.eventId]);
    } finally {
      await receiver.close();
      await deleteWebhookEndpoint(database.db, endpoint.id);
    }
  });

  it("two workers at once never send the same delivery", async () => {
    const { receiver, endpoint } = await setUp();
    try {
      for (let i = 0; i < 6; i++) await changes(1);
      await Promise.all([deliverDueWebhooks(database.db), deliverDueWebhooks(database.db)]);
      const ids = receiver.received.map((request) => request.id);
      expect(ids).toHaveLength(6);
      expect(new Set(ids).size).toBe(6);
    } finally {
      await receiver.close();
      await deleteWebhookEndpoint(database.db, endpoint.id);
    }
  });
});

import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "@/credits/verify-ledger";
import type { DatabaseConnection } from "@/db/connect";
import { testId } from "../support/stripe-events";
import { deliverWebhook, STRIPE_ENV, spend, succeededEvent } from "./support/api";
import {
  connectForSeeding,
  createFaultDatabase,
  type FaultDatabase,
  inspectionPool,
} from "./support/database";
import { accounts, entriesByKey, storedApiAnswers } from "./support/ledger";
import { FAULT_SUITE } from "./support/paths";
import { ledgerKeyOf, seedApiKey, seedPendingPurchase, seedUsersWithCredits } from "./support/seed";
import { makeDataDir, type RunningServer, sleep, startServer } from "./support/server";

/** src/db/connect.ts sets lock_timeout=5000 on every connection of the server's pool. */
const LOCK_TIMEOUT_MS = 5_000;
/** Answered later than this, a request waited on more than the lock timeout: it hung. */
const GIVE_UP_AFTER_MS = LOCK_TIMEOUT_MS + 5_000;

describe.skipIf(!FAULT_SUITE)("lock contention: a user's account row is locked by another session", () => {
  let database: FaultDatabase | undefined;
  const data = makeDataDir();
  let server: RunningServer | undefined;
  let seed: DatabaseConnection;
  let pool: pg.Pool;
  let key: string;
  let apiKeyId: string;

  beforeAll(async () => {
    database = await createFaultDatabase("locks");
    server = await startServer({
      name: "lock-contention",
      databaseUrl: database.url,
      dataDir: data.dataDir,
      env: STRIPE_ENV,
    });
    seed = await connectForSeeding(database.url);
    pool = inspectionPool(database.url);
    ({ key, apiKeyId } = await seedApiKey(seed.db, "faults-locks"));
  });

  afterAll(async () => {
    await server?.kill("SIGKILL").catch(() => {});
    await seed?.close().catch(() => {});
    await pool?.end().catch(() => {});
    await database?.drop();
    data.remove();
  });

  /** Runs `work` while another session holds `userId`'s credit_account row lock (BEGIN; SELECT ... FOR UPDATE). */
  async function whileAccountLocked<T>(userId: string, work: () => Promise<T>): Promise<T> {
    const locker = new pg.Client({ connectionString: database?.url, connectionTimeoutMillis: 10_000 });
    await locker.connect();
    try {
      await locker.query("BEGIN");
      const locked = await locker.query("SELECT * FROM credit_account WHERE user_id = $1 FOR UPDATE", [
        userId,
      ]);
      expect(locked.rowCount).toBe(1);
      return await work();
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await locker.end().catch(() => {});
    }
  }

  it("a spend fails fast with 503 database_busy, other users are served, and the retry applies once", async () => {
    const [lockedUser, otherUser] = (await seedUsersWithCredits(seed.db, 2, 1_000)) as [string, string];
    const blockedRequest = { userId: lockedUser, amount: 10, idempotencyKey: randomUUID() };

    const [blocked, unrelated] = await whileAccountLocked(lockedUser, () =>
      Promise.all([
        spend(server!.url, key, blockedRequest, GIVE_UP_AFTER_MS + 5_000),
        // Locks are per user: another user's spend must not queue behind the locked one.
        sleep(500).then(() =>
          spend(server!.url, key, { userId: otherUser, amount: 7, idempotencyKey: randomUUID() }),
        ),
      ]),
    );

    expect(blocked.answered, "the blocked spend must be answered, not hang").toBe(true);
    if (!blocked.answered) return;
    expect({ status: blocked.status, code: blocked.body?.error?.code }).toEqual({
      status: 503,
      code: "database_busy",
    });
    expect(blocked.body?.error?.retryable).toBe(true);
    expect(blocked.ms, "it waited about lock_timeout").toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS - 500);
    expect(blocked.ms, "it gave up in bounded time").toBeLessThan(GIVE_UP_AFTER_MS);

    expect(unrelated.answered && unrelated.status).toBe(200);
    expect(unrelated.ms, "another user's spend did not wait on the lock").toBeLessThan(
      LOCK_TIMEOUT_MS - 1_000,
    );

    // The failed attempt left nothing: no entry, no stored answer (a retry must run, not replay a 503).
    const ledgerKey = ledgerKeyOf(apiKeyId, blockedRequest.idempotencyKey);
    expect((await entriesByKey(pool)).get(ledgerKey)).toBeUndefined();
    expect((await storedApiAnswers(pool)).has(blockedRequest.idempotencyKey)).toBe(false);
    expect((await accounts(pool)).get(lockedUser)?.balance).toBe(1_000);

    // The lock is gone: the client's retry succeeds, and a second retry is a replay of it.
    const retry = await spend(server!.url, key, blockedRequest);
    expect(retry.answered && [retry.status, retry.replayed]).toEqual([200, false]);
    const again = await spend(server!.url, key, blockedRequest);
    expect(again.answered && [again.status, again.replayed]).toEqual([200, true]);
    if (retry.answered && again.answered) expect(again.body?.entryId).toBe(retry.body?.entryId);

    expect((await entriesByKey(pool)).get(ledgerKey)).toHaveLength(1);
    expect((await accounts(pool)).get(lockedUser)?.balance).toBe(990);
    expect((await verifyLedger(seed.db)).violations).toEqual([]);
  });

  it("a payment webhook fails fast with a 5xx Stripe retries, and the retry credits once", async () => {
    // A first grant creates the buyer's account row, so there is a row for the other session to lock.
    const [buyer] = (await seedUsersWithCredits(seed.db, 1, 5)) as [string];
    const purchase = await seedPendingPurchase(seed.db, buyer);
    const payload = succeededEvent(purchase, testId("evt"));

    const blocked = await whileAccountLocked(buyer, () =>
      deliverWebhook(server!.url, payload, GIVE_UP_AFTER_MS + 5_000),
    );
    expect(blocked.answered, "the blocked webhook must be answered, not hang").toBe(true);
    if (!blocked.answered) return;
    expect(blocked.status).toBe(503);
    expect(blocked.body?.error?.code).toBe("database_busy");
    expect(blocked.ms).toBeLessThan(GIVE_UP_AFTER_MS);

    const { rows: events } = await pool.query("SELECT id FROM webhook_event");
    expect(events, "a failed delivery must not mark the event as processed").toEqual([]);

    const retry = await deliverWebhook(server!.url, payload);
    expect(retry.answered && [retry.status, retry.body?.outcome]).toEqual([200, "granted"]);
    const duplicate = await deliverWebhook(server!.url, payload);
    expect(duplicate.answered && [duplicate.status, duplicate.body?.outcome]).toEqual([200, "duplicate"]);

    const grants = [...(await entriesByKey(pool)).values()]
      .flat()
      .filter((entry) => entry.reference === purchase.paymentIntentId);
    expect(grants).toHaveLength(1);
    expect((await accounts(pool)).get(buyer)?.balance).toBe(5 + purchase.credits);
    expect((await verifyLedger(seed.db)).violations).toEqual([]);
  });
});

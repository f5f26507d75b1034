import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHold } from "../../src/credits/create-hold";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { apiIdempotency, auditLog, creditHold, creditLot } from "../../src/db/schema";
import { errorResponse } from "../../src/server/http-errors";
import { createApiKey, revokeApiKey } from "../../src/service-api/api-keys";
import { observedAnswers, undocumentedAnswers, type V1Call, v1 } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { docsGet, openApiGet } from "../support/route-handlers";
import { entriesOf } from "../support/rows";
import { seedUserWithCredits } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// No ambient database or Stripe settings. The suite sends a few hundred requests a minute with one key: far
// under the per-key limit, which is set explicitly so that a lower default cannot turn answers into 429s.
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "service-api tests" };
const KEY_NAME = "billing-backend";

/** The service API's paths as the OpenAPI document names them. */
const API_PATHS = [
  "/users/{userId}/balance",
  "/users/{userId}/consume",
  "/users/{userId}/grants",
  "/users/{userId}/holds",
  "/holds/{holdId}/capture",
  "/holds/{holdId}/release",
  "/users/{userId}/transactions",
  "/users/{userId}/low-balance-threshold",
  "/webhook-endpoints",
  "/webhook-endpoints/{endpointId}",
  "/webhook-endpoints/{endpointId}/deliveries",
  "/webhook-deliveries/{deliveryId}/resend",
];

/** The plan a user without a subscription is on, as the balance answer gives it (the catalog's Free plan). */
const FREE_PLAN = {
  id: "free",
  name: "Free",
  status: null,
  creditsPerPeriod: 50,
  currentPeriodEnd: null,
  cancelAtPeriodEnd: false,
};

describe.each(databaseKinds())("service API v1 on %s", (kind) => {
  let database: TestDatabase;
  let key: string;

  beforeAll(async () => {
    // The parallel tests below send up to 100 requests at once: the pool must hold more than 20 of them.
    database = await createTestDatabase(kind, { poolSize: 30 });
    useDatabaseConnection(database);
    key = (await createApiKey(database.db, KEY_NAME, OPERATOR)).key;
  });
  // `verify` after every test: a test can pass and still leave the ledger inconsistent.
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  /** A user with `credits` granted (never expiring), seeded directly through the core. */
  const userWith = (credits: number) => seedUserWithCredits(database.db, credits);

  /** Everything a request could have changed for a user: balance, ledger entries, holds. */
  async function ledgerState(userId: string) {
    const holds = await database.db
      .select({ id: creditHold.id, status: creditHold.status })
      .from(creditHold)
      .where(eq(creditHold.userId, userId));
    return {
      balance: await getBalance(database.db, userId),
      entries: (await entriesOf(database.db, userId)).map((entry) => entry.id),
      holds,
    };
  }

  async function storedIdempotencyKeys(idempotencyKey: string) {
    return database.db.select().from(apiIdempotency).where(eq(apiIdempotency.idempotencyKey, idempotencyKey));
  }

  const as = (call: V1Call = {}): V1Call => ({ key, ...call });

  describe("authentication", () => {
    it.each([
      { credential: "no Authorization header", header: (_key: string) => null },
      { credential: "a Basic credential", header: (_key: string) => "Basic dXNlcjpwYXNz" },
      { credential: "Bearer without a key", header: (_key: string) => "Bearer " },
      { credential: "a key without Bearer", header: (k: string) => k },
      { credential: "a key followed by junk", header: (k: string) => `Bearer ${k} junk` },
      { credential: "an unknown key", header: (_key: string) => `Bearer ck_${"x".repeat(32)}` },
      { credential: "a truncated key", header: (k: string) => `Bearer ${k.slice(0, -2)}` },
      { credential: "a key that is not ours", header: (_key: string) => "Bearer sk_live_123" },
    ])(
      "answers 401 unauthorized for $credential, on reads and mutations, and writes nothing",
      async ({ header: headerFor }) => {
        const userId = await userWith(50);
        const before = await ledgerState(userId);
        const header = headerFor(key);

        const balance = await v1.balance(userId, { authorization: header });
        const consume = await v1.consume(userId, { authorization: header, json: { amount: 5 } });
        // No Idempotency-Key either: an anonymous caller learns nothing about what else is wrong.
        const hold = await v1.hold(userId, { authorization: header, idempotencyKey: null, json: {} });

        for (const response of [balance, consume, hold]) {
          expect(response.status).toBe(401);
          expect(response.body.error?.code).toBe("unauthorized");
        }
        expect(await ledgerState(userId)).toEqual(before);
      },
    );

    it("stops accepting a key once it is revoked, and only that key", async () => {
      const userId = await userWith(50);
      const created = await createApiKey(database.db, "short-lived", OPERATOR);
      expect((await v1.balance(userId, { key: created.key })).status).toBe(200);

      await revokeApiKey(database.db, created.apiKey.id, OPERATOR);

      const read = await v1.balance(userId, { key: created.key });
      const spend = await v1.consume(userId, { key: created.key, json: { amount: 5 } });
      expect([read.status, read.body.error?.code]).toEqual([401, "unauthorized"]);
      expect([spend.status, spend.body.error?.code]).toEqual([401, "unauthorized"]);
      expect((await getBalance(database.db, userId)).balance).toBe(50);
      expect((await v1.balance(userId, as())).status).toBe(200);
    });
  });

  describe("balance", () => {
    it("reports balance, held, available and debt", async () => {
      const userId = await userWith(100);
      expect((await v1.hold(userId, as({ json: { amount: 30 } }))).status).toBe(201);

      const response = await v1.balance(userId, as());

      expect(response).toEqual({
        status: 200,
        body: { balance: 100, held: 30, available: 70, debt: 0, plan: FREE_PLAN },
        replayed: false,
      });
    });

    it("reports zeros for a user who never had credits, and 404 for a user who does not exist", async () => {
      const userId = await userWith(0);
      expect((await v1.balance(userId, as())).body).toEqual({
        balance: 0,
        held: 0,
        available: 0,
        debt: 0,
        plan: FREE_PLAN,
      });

      const missing = await v1.balance(randomUUID(), as());
      expect(missing.status).toBe(404);
      expect(missing.body.error?.code).toBe("not_found");
      expect((await v1.balance("x".repeat(300), as())).status).toBe(404);
    });
  });

  describe("consume", () => {
    it("spends credits and answers the entry and the new balance", async () => {
      const userId = await userWith(100);

      const response = await v1.consume(userId, as({ json: { amount: 40, description: "3 renders" } }));

      expect(response.status).toBe(200);
      expect(response.body).toEqual({ entryId: expect.stringMatching(/^\d+$/), balance: 60 });
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 60, available: 60 });
      const history = await v1.transactions(userId, as());
      expect(history.body.items[0]).toMatchObject({
        id: response.body.entryId,
        type: "consume",
        amount: -40,
        balanceAfter: 60,
        description: "3 renders",
      });
    });

    it("names the API key in the history when no description is given", async () => {
      const userId = await userWith(10);
      await v1.consume(userId, as({ json: { amount: 1 } }));
      const history = await v1.transactions(userId, as());
      expect(history.body.items[0]?.description).toBe(`Usage via API key ${KEY_NAME}`);
    });

    it("answers 402 insufficient_credits, with what is available, and spends nothing", async () => {
      const userId = await userWith(20);
      await v1.hold(userId, as({ json: { amount: 15 } }));
      const before = await ledgerState(userId);

      const response = await v1.consume(userId, as({ json: { amount: 6 } }));

      expect(response.status).toBe(402);
      expect(response.body.error).toMatchObject({ code: "insufficient_credits", available: 5 });
      expect(await ledgerState(userId)).toEqual(before);
      expect((await v1.consume(userId, as({ json: { amount: 5 } }))).body.balance).toBe(15);
    });

    it("answers 404 for a user who does not exist and creates no account for them", async () => {
      const ghost = randomUUID();
      const response = await v1.consume(ghost, as({ json: { amount: 1 } }));
      expect([response.status, response.body.error?.code]).toEqual([404, "not_found"]);
      expect(await entriesOf(database.db, ghost)).toEqual([]);
    });
  });

  describe("grants", () => {
    it("adds a promotional lot that expires when asked, and records who granted it", async () => {
      const userId = await userWith(0);
      const expiresAt = new Date(Date.now() + 7 * 24 * 3600 * 1000);
      expiresAt.setMilliseconds(0);

      const response = await v1.grant(
        userId,
        as({ json: { amount: 250, expiresAt: expiresAt.toISOString(), category: "promotional" } }),
      );

      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        entryId: expect.stringMatching(/^\d+$/),
        lotId: expect.any(String),
        balance: 250,
      });
      const [lot] = await database.db.select().from(creditLot).where(eq(creditLot.id, response.body.lotId));
      expect(lot).toMatchObject({ userId, credits: 250, remaining: 250, category: "promotional" });
      expect(lot?.expiresAt?.toISOString()).toBe(expiresAt.toISOString());
      expect((await v1.balance(userId, as())).body).toMatchObject({ balance: 250, available: 250 });
      const audit = await database.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetUserId, userId), eq(auditLog.action, "credits.grant")));
      expect(audit).toEqual([
        expect.objectContaining({ actorLabel: `api-key:${KEY_NAME}`, actorUserId: null }),
      ]);
    });

    it.each([
      { field: "an expiresAt in the past", json: { amount: 10, expiresAt: "2020-01-01T00:00:00Z" } },
      { field: "an expiresAt that is not a date", json: { amount: 10, expiresAt: "next tuesday" } },
      { field: "an unknown category", json: { amount: 10, category: "gift" } },
    ])("refuses $field with 400 invalid_input and grants nothing", async ({ json }) => {
      const userId = await userWith(5);
      const before = await ledgerState(userId);

      const response = await v1.grant(userId, as({ json }));

      expect([response.status, response.body.error?.code]).toEqual([400, "invalid_input"]);
      expect(await ledgerState(userId)).toEqual(before);
    });

    it("answers 404 for a user who does not exist", async () => {
      const response = await v1.grant(randomUUID(), as({ json: { amount: 10 } }));
      expect([response.status, response.body.error?.code]).toEqual([404, "not_found"]);
    });
  });

  describe("holds", () => {
    it("reserves credits: the balance stays, held grows and available shrinks", async () => {
      const userId = await userWith(100);
      const before = Date.now();

      const response = await v1.hold(userId, as({ json: { amount: 70, ttlSeconds: 120 } }));

      expect(response.status).toBe(201);
      expect(response.body).toEqual({ holdId: expect.any(String), expiresAt: expect.any(String) });
      const expiresAt = Date.parse(response.body.expiresAt);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 119_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 121_000);
      expect((await v1.balance(userId, as())).body).toEqual({
        balance: 100,
        held: 70,
        available: 30,
        debt: 0,
        plan: FREE_PLAN,
      });
    });

    it("answers 402 insufficient_credits when the amount is not available, and reserves nothing", async () => {
      const userId = await userWith(100);
      await v1.hold(userId, as({ json: { amount: 80 } }));
      const before = await ledgerState(userId);

      const response = await v1.hold(userId, as({ json: { amount: 21 } }));

      expect(response.status).toBe(402);
      expect(response.body.error).toMatchObject({ code: "insufficient_credits", available: 20 });
      expect(await ledgerState(userId)).toEqual(before);
    });

    it("captures less than reserved: only the captured amount leaves the balance", async () => {
      const userId = await userWith(100);
      const hold = await v1.hold(userId, as({ json: { amount: 40, description: "video render" } }));

      const captured = await v1.capture(hold.body.holdId, as({ json: { amount: 25 } }));

      expect(captured).toEqual({
        status: 200,
        body: { entryId: expect.stringMatching(/^\d+$/), balance: 75 },
        replayed: false,
      });
      expect((await v1.balance(userId, as())).body).toEqual({
        balance: 75,
        held: 0,
        available: 75,
        debt: 0,
        plan: FREE_PLAN,
      });
      const history = await v1.transactions(userId, as());
      expect(
        history.body.items.map(({ type, amount, balanceAfter }) => [type, amount, balanceAfter]),
      ).toEqual([
        ["consume", -25, 75],
        ["grant", 100, 100],
      ]);
      expect(history.body.items[0]?.description).toBe("video render");
    });

    it("captures everything reserved when no amount is given, even with an empty body", async () => {
      const userId = await userWith(50);
      const hold = await v1.hold(userId, as({ json: { amount: 20 } }));

      const captured = await v1.capture(hold.body.holdId, as());

      expect(captured.status).toBe(200);
      expect(captured.body.balance).toBe(30);
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 30, held: 0 });
    });

    it("answers a repeated capture with the first result and spends once", async () => {
      const userId = await userWith(100);
      const hold = await v1.hold(userId, as({ json: { amount: 40 } }));
      const idempotencyKey = randomUUID();
      const first = await v1.capture(hold.body.holdId, as({ idempotencyKey, json: { amount: 25 } }));

      // A retry of the same request (same Idempotency-Key) is the stored answer.
      const retry = await v1.capture(hold.body.holdId, as({ idempotencyKey, json: { amount: 25 } }));
      // A client that lost the key and asks again for the same capture gets the same entry.
      const again = await v1.capture(hold.body.holdId, as({ json: { amount: 25 } }));

      expect(retry).toEqual({ ...first, replayed: true });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect((await getBalance(database.db, userId)).balance).toBe(75);
      expect((await entriesOf(database.db, userId)).filter((e) => e.type === "consume")).toHaveLength(1);

      // Settling it another way is refused: its credits are already spent.
      const other = await v1.capture(hold.body.holdId, as({ json: { amount: 30 } }));
      expect([other.status, other.body.error?.code]).toEqual([409, "hold_not_open"]);
      const release = await v1.release(hold.body.holdId, as());
      expect([release.status, release.body.error?.code]).toEqual([409, "hold_not_open"]);
      expect((await getBalance(database.db, userId)).balance).toBe(75);
    });

    it("refuses to capture more than was reserved with 400 and keeps the hold open", async () => {
      const userId = await userWith(100);
      const hold = await v1.hold(userId, as({ json: { amount: 10 } }));

      const response = await v1.capture(hold.body.holdId, as({ json: { amount: 11 } }));

      expect([response.status, response.body.error?.code]).toEqual([400, "invalid_input"]);
      expect(await getBalance(database.db, userId)).toEqual({
        balance: 100,
        held: 10,
        available: 90,
        debt: 0,
      });
      expect((await v1.capture(hold.body.holdId, as({ json: { amount: 10 } }))).body.balance).toBe(90);
    });

    it("releases every reserved credit; a capture after that is 409 hold_not_open", async () => {
      const userId = await userWith(60);
      const hold = await v1.hold(userId, as({ json: { amount: 60 } }));
      expect((await v1.balance(userId, as())).body.available).toBe(0);

      // The body may be left out entirely.
      const released = await v1.release(hold.body.holdId, as());

      expect(released).toEqual({
        status: 200,
        body: { holdId: hold.body.holdId, status: "released", balance: 60 },
        replayed: false,
      });
      expect((await v1.balance(userId, as())).body).toEqual({
        balance: 60,
        held: 0,
        available: 60,
        debt: 0,
        plan: FREE_PLAN,
      });
      const capture = await v1.capture(hold.body.holdId, as({ json: { amount: 10 } }));
      expect([capture.status, capture.body.error?.code]).toEqual([409, "hold_not_open"]);
      // Releasing again is harmless.
      expect((await v1.release(hold.body.holdId, as({ json: {} }))).status).toBe(200);
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 60, held: 0 });
      expect(await entriesOf(database.db, userId)).toHaveLength(1);
    });

    // Through the API, the release of an expired hold must commit even though the capture is refused.
    it("answers 409 to capturing an expired hold and gives its credits back at once", async () => {
      const userId = await userWith(100);
      // Reserved two minutes ago for one minute: past its time-to-live, not yet swept.
      const hold = await createHold(
        database.db,
        { userId, amount: 40, description: "stale render", idempotencyKey: "stale", ttlSeconds: 60 },
        new Date(Date.now() - 120_000),
      );
      if (!hold.ok) throw new Error("hold refused");
      expect((await v1.balance(userId, as())).body).toMatchObject({ held: 40, available: 60 });

      const response = await v1.capture(hold.holdId, as({ json: { amount: 10 } }));

      expect([response.status, response.body.error?.code]).toEqual([409, "hold_not_open"]);
      expect((await v1.balance(userId, as())).body).toEqual({
        balance: 100,
        held: 0,
        available: 100,
        debt: 0,
        plan: FREE_PLAN,
      });
    });

    it.each([
      { hold: "an unknown hold id", holdId: randomUUID() },
      { hold: "a hold id that is not a UUID", holdId: "not-a-uuid" },
      { hold: "a hold id with SQL in it", holdId: "1' OR '1'='1" },
    ])("answers 404 not_found to capture or release $hold", async ({ holdId }) => {
      const capture = await v1.capture(holdId, as({ json: { amount: 1 } }));
      const release = await v1.release(holdId, as());
      expect([capture.status, capture.body.error?.code]).toEqual([404, "not_found"]);
      expect([release.status, release.body.error?.code]).toEqual([404, "not_found"]);
    });

    it("answers 404 to reserve for a user who does not exist", async () => {
      const response = await v1.hold(randomUUID(), as({ json: { amount: 1 } }));
      expect([response.status, response.body.error?.code]).toEqual([404, "not_found"]);
    });
  });

  describe("Idempotency-Key", () => {
    it.each([
      { header: "no Idempotency-Key", idempotencyKey: null },
      { header: "an empty Idempotency-Key", idempotencyKey: "" },
      { header: "an Idempotency-Key with spaces", idempotencyKey: "two words" },
      { header: "an Idempotency-Key longer than 255 characters", idempotencyKey: "k".repeat(256) },
    ])(
      "refuses a mutation with $header: 400 idempotency_key_required, nothing written",
      async ({ idempotencyKey }) => {
        const userId = await userWith(50);
        const hold = await v1.hold(userId, as({ json: { amount: 10 } }));
        const before = await ledgerState(userId);

        const responses = [
          await v1.consume(userId, as({ idempotencyKey, json: { amount: 1 } })),
          await v1.grant(userId, as({ idempotencyKey, json: { amount: 1 } })),
          await v1.hold(userId, as({ idempotencyKey, json: { amount: 1 } })),
          await v1.capture(hold.body.holdId, as({ idempotencyKey, json: { amount: 1 } })),
          await v1.release(hold.body.holdId, as({ idempotencyKey })),
        ];

        for (const response of responses) {
          expect([response.status, response.body.error?.code]).toEqual([400, "idempotency_key_required"]);
        }
        expect(await ledgerState(userId)).toEqual(before);
      },
    );

    it("answers a retry with the same key and body with the first response, applied once", async () => {
      const userId = await userWith(100);
      const idempotencyKey = `order-${randomUUID()}`;
      const request = as({ idempotencyKey, json: { amount: 30, description: "order 1" } });

      const first = await v1.consume(userId, request);
      const second = await v1.consume(userId, request);
      const third = await v1.consume(userId, request);

      expect(first).toEqual({
        status: 200,
        body: { entryId: expect.any(String), balance: 70 },
        replayed: false,
      });
      expect(second).toEqual({ ...first, replayed: true });
      expect(third).toEqual({ ...first, replayed: true });
      expect(await entriesOf(database.db, userId)).toHaveLength(2);
      expect((await getBalance(database.db, userId)).balance).toBe(70);
    });

    it("replays a created hold and a grant too, without reserving or granting twice", async () => {
      const userId = await userWith(100);
      const holdKey = randomUUID();
      const grantKey = randomUUID();

      const hold = await v1.hold(userId, as({ idempotencyKey: holdKey, json: { amount: 10 } }));
      const holdAgain = await v1.hold(userId, as({ idempotencyKey: holdKey, json: { amount: 10 } }));
      const grant = await v1.grant(userId, as({ idempotencyKey: grantKey, json: { amount: 5 } }));
      const grantAgain = await v1.grant(userId, as({ idempotencyKey: grantKey, json: { amount: 5 } }));

      expect(holdAgain).toEqual({ ...hold, replayed: true });
      expect(grantAgain).toEqual({ ...grant, replayed: true });
      expect(await getBalance(database.db, userId)).toEqual({
        balance: 105,
        held: 10,
        available: 95,
        debt: 0,
      });
    });

    it("refuses the same key with a different body or for another user: 409 idempotency_conflict", async () => {
      const userId = await userWith(100);
      const otherUser = await userWith(100);
      const idempotencyKey = randomUUID();
      const first = await v1.consume(userId, as({ idempotencyKey, json: { amount: 10 } }));
      expect(first.status).toBe(200);
      const before = [await ledgerState(userId), await ledgerState(otherUser)];

      const otherAmount = await v1.consume(userId, as({ idempotencyKey, json: { amount: 11 } }));
      const otherDescription = await v1.consume(
        userId,
        as({ idempotencyKey, json: { amount: 10, description: "changed" } }),
      );
      const otherUserSameBody = await v1.consume(otherUser, as({ idempotencyKey, json: { amount: 10 } }));
      const otherEndpoint = await v1.grant(userId, as({ idempotencyKey, json: { amount: 10 } }));

      for (const response of [otherAmount, otherDescription, otherUserSameBody, otherEndpoint]) {
        expect([response.status, response.body.error?.code]).toEqual([409, "idempotency_conflict"]);
      }
      expect([await ledgerState(userId), await ledgerState(otherUser)]).toEqual(before);
      // The original request is still answered as before.
      expect(await v1.consume(userId, as({ idempotencyKey, json: { amount: 10 } }))).toEqual({
        ...first,
        replayed: true,
      });
    });

    it("replays a 402 too: a retry after a top-up needs a new key", async () => {
      const userId = await userWith(5);
      const idempotencyKey = randomUUID();
      const refused = await v1.consume(userId, as({ idempotencyKey, json: { amount: 8 } }));
      expect(refused.status).toBe(402);
      await v1.grant(userId, as({ json: { amount: 10 } }));

      const retry = await v1.consume(userId, as({ idempotencyKey, json: { amount: 8 } }));
      const fresh = await v1.consume(userId, as({ json: { amount: 8 } }));

      expect(retry).toEqual({ ...refused, replayed: true });
      expect([fresh.status, fresh.body.balance]).toEqual([200, 7]);
    });

    it("keeps the keys of different API keys apart", async () => {
      const userId = await userWith(100);
      const other = await createApiKey(database.db, "analytics-backend", OPERATOR);
      const idempotencyKey = "shared-key-1";

      const mine = await v1.consume(userId, { key, idempotencyKey, json: { amount: 10 } });
      const theirs = await v1.consume(userId, { key: other.key, idempotencyKey, json: { amount: 10 } });

      expect([mine.status, mine.replayed, theirs.status, theirs.replayed]).toEqual([200, false, 200, false]);
      expect(theirs.body.entryId).not.toBe(mine.body.entryId);
      expect((await getBalance(database.db, userId)).balance).toBe(80);
    });

    it("does not use up a key on a request that was refused before it ran", async () => {
      const userId = await userWith(100);
      const idempotencyKey = randomUUID();

      const invalid = await v1.consume(userId, as({ idempotencyKey, json: { amount: -1 } }));
      const unknownHold = await v1.capture(randomUUID(), as({ idempotencyKey, json: {} }));
      expect([invalid.status, unknownHold.status]).toEqual([400, 404]);
      expect(await storedIdempotencyKeys(idempotencyKey)).toEqual([]);

      const valid = await v1.consume(userId, as({ idempotencyKey, json: { amount: 1 } }));
      expect([valid.status, valid.replayed, valid.body.balance]).toEqual([200, false, 99]);
    });
  });

  describe("transactions", () => {
    it("pages through the history newest first with nextCursor", async () => {
      const userId = await userWith(10);
      for (let i = 1; i <= 4; i++) {
        expect((await v1.consume(userId, as({ json: { amount: 1, description: `job ${i}` } }))).status).toBe(
          200,
        );
      }

      const pages: { balanceAfter: number[]; nextCursor: string | null }[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `limit=2${cursor ? `&cursor=${cursor}` : ""}`;
        const page = await v1.transactions(userId, as({ query }));
        expect(page.status).toBe(200);
        pages.push({
          balanceAfter: page.body.items.map((item) => item.balanceAfter),
          nextCursor: page.body.nextCursor,
        });
        cursor = page.body.nextCursor;
      } while (cursor && pages.length < 10);

      expect(pages.map((page) => page.balanceAfter)).toEqual([[6, 7], [8, 9], [10]]);
      expect(pages.at(-1)?.nextCursor).toBeNull();
      const all = await v1.transactions(userId, as({ query: "limit=100" }));
      expect(all.body.items.map((item) => item.description)).toEqual([
        "job 4",
        "job 3",
        "job 2",
        "job 1",
        "seed",
      ]);
      expect(all.body.nextCursor).toBeNull();
      expect((await v1.transactions(userId, as())).body.items).toHaveLength(5);
    });

    it.each([
      { query: "limit=0" },
      { query: "limit=101" },
      { query: "limit=ten" },
      { query: "cursor=abc" },
      { query: "userId=someone-else" },
    ])("refuses ?$query with 400 invalid_input", async ({ query }) => {
      const userId = await userWith(1);
      const response = await v1.transactions(userId, as({ query }));
      expect([response.status, response.body.error?.code]).toEqual([400, "invalid_input"]);
    });

    it("answers 404 for a user who does not exist", async () => {
      const response = await v1.transactions(randomUUID(), as());
      expect([response.status, response.body.error?.code]).toEqual([404, "not_found"]);
    });
  });

  describe("bodies that are not a valid request", () => {
    const json = (value: unknown) => ({ body: JSON.stringify(value), contentType: "application/json" });
    it.each([
      { request: "a fractional amount", init: json({ amount: 1.5 }), status: 400, code: "invalid_input" },
      { request: "a negative amount", init: json({ amount: -5 }), status: 400, code: "invalid_input" },
      { request: "a zero amount", init: json({ amount: 0 }), status: 400, code: "invalid_input" },
      { request: 'the string "1e3"', init: json({ amount: "1e3" }), status: 400, code: "invalid_input" },
      { request: "2**53", init: json({ amount: 2 ** 53 }), status: 400, code: "invalid_input" },
      { request: "1e9 + 1", init: json({ amount: 1_000_000_001 }), status: 400, code: "invalid_input" },
      { request: "no amount", init: json({ description: "x" }), status: 400, code: "invalid_input" },
      {
        request: "an unknown extra field",
        init: json({ amount: 1, userId: "someone-else" }),
        status: 400,
        code: "invalid_input",
      },
      { request: "a JSON array", init: json([{ amount: 1 }]), status: 400, code: "invalid_input" },
      { request: "JSON null", init: json(null), status: 400, code: "invalid_input" },
      {
        request: "a blank description",
        init: json({ amount: 1, description: "   " }),
        status: 400,
        code: "invalid_input",
      },
      {
        request: "a __proto__ key",
        init: { body: '{"amount":1,"__proto__":{"admin":true}}', contentType: "application/json" },
        status: 400,
        code: "invalid_input",
      },
      {
        request: "a form-encoded body",
        init: { body: "amount=1", contentType: "application/x-www-form-urlencoded" },
        status: 415,
        code: "unsupported_media_type",
      },
      {
        request: "JSON without a content type",
        init: { body: '{"amount":1}' },
        status: 415,
        code: "unsupported_media_type",
      },
      {
        request: "malformed JSON",
        init: { body: '{"amount": 1', contentType: "application/json" },
        status: 400,
        code: "malformed_json",
      },
      {
        request: "a 1 MB body",
        init: json({ amount: 1, description: "x".repeat(1024 * 1024) }),
        status: 413,
        code: "payload_too_large",
      },
    ])(
      "answers $request to consume with $status $code and leaves the ledger unchanged",
      async ({ init, status, code }) => {
        const userId = await userWith(100);
        const before = await ledgerState(userId);
        const idempotencyKey = randomUUID();

        const response = await v1.consume(userId, as({ idempotencyKey, ...init }));

        expect([response.status, response.body.error?.code]).toEqual([status, code]);
        expect(response.body.error?.message).toEqual(expect.any(String));
        expect(await ledgerState(userId)).toEqual(before);
        expect(await storedIdempotencyKeys(idempotencyKey)).toEqual([]);
      },
    );

    it.each([
      { endpoint: "grants", send: (u: string, c: V1Call) => v1.grant(u, c), json: { amount: 2 ** 53 } },
      { endpoint: "grants", send: (u: string, c: V1Call) => v1.grant(u, c), json: { amount: 0.5 } },
      { endpoint: "holds", send: (u: string, c: V1Call) => v1.hold(u, c), json: { amount: 1.5 } },
      {
        endpoint: "holds",
        send: (u: string, c: V1Call) => v1.hold(u, c),
        json: { amount: 1, ttlSeconds: 8 * 24 * 3600 },
      },
      { endpoint: "holds", send: (u: string, c: V1Call) => v1.hold(u, c), json: { amount: 1, price: 0 } },
    ])(
      "answers 400 invalid_input to $endpoint with $json and leaves the ledger unchanged",
      async ({ send, json }) => {
        const userId = await userWith(100);
        const before = await ledgerState(userId);

        const response = await send(userId, as({ json }));

        expect([response.status, response.body.error?.code]).toEqual([400, "invalid_input"]);
        expect(await ledgerState(userId)).toEqual(before);
      },
    );

    it.each([
      { json: { amount: -1 } },
      { json: { amount: 2.5 } },
      { json: { amount: "5" } },
      { json: { amount: 5, extra: true } },
    ])("answers 400 invalid_input to a capture with $json and keeps the hold open", async ({ json }) => {
      const userId = await userWith(100);
      const hold = await v1.hold(userId, as({ json: { amount: 10 } }));
      const before = await ledgerState(userId);

      const response = await v1.capture(hold.body.holdId, as({ json }));

      expect([response.status, response.body.error?.code]).toEqual([400, "invalid_input"]);
      expect(await ledgerState(userId)).toEqual(before);
    });
  });

  describe("documentation", () => {
    async function openApiDocument() {
      const response = await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      return (await response.json()) as {
        openapi: string;
        servers: { url: string }[];
        components: { securitySchemes: Record<string, unknown> };
        paths: Record<string, Record<string, OpenApiOperation>>;
      };
    }
    type OpenApiOperation = {
      parameters: { name: string; in: string; required?: boolean }[];
      requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
      responses: Record<string, unknown>;
    };
    type JsonSchema = {
      $ref?: string;
      $defs?: Record<string, JsonSchema>;
      type?: string;
      required?: string[];
      additionalProperties?: boolean;
      properties?: Record<string, JsonSchema>;
    };

    /** The request body's schema, following a $ref inside the schema or into the document's components. */
    function bodySchema(document: unknown, operation: OpenApiOperation): JsonSchema | undefined {
      const schema = operation.requestBody?.content["application/json"]?.schema;
      if (!schema?.$ref) return schema;
      const local = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
      if (local?.[1] && schema.$defs?.[local[1]]) return schema.$defs[local[1]];
      return resolvePointer(document, schema.$ref) as JsonSchema | undefined;
    }

    it("serves an OpenAPI 3.1.0 document with the seven endpoints and their request bodies", async () => {
      const document = await openApiDocument();

      expect(document.openapi).toBe("3.1.0");
      expect(document.servers).toEqual([{ url: "http://localhost:3000/api/v1" }]);
      expect(document.components.securitySchemes).toHaveProperty("apiKey");
      // The seven, and the customers' routes (tests/integration/customers.test.ts checks those).
      const customerPaths = Object.keys(document.paths).filter((path) => path.startsWith("/customers/"));
      expect(customerPaths.sort()).toEqual([
        "/customers/{externalId}",
        "/customers/{externalId}/balance",
        "/customers/{externalId}/consume",
        "/customers/{externalId}/grants",
        "/customers/{externalId}/holds",
        "/customers/{externalId}/low-balance-threshold",
        "/customers/{externalId}/transactions",
      ]);
      expect(
        Object.keys(document.paths)
          .filter((path) => !path.startsWith("/customers/"))
          .sort(),
      ).toEqual([...API_PATHS].sort());
      expect(Object.keys(document.paths["/users/{userId}/balance"] ?? {})).toEqual(["get"]);
      expect(Object.keys(document.paths["/users/{userId}/transactions"] ?? {})).toEqual(["get"]);

      for (const path of ["consume", "grants", "holds"]) {
        const operation = document.paths[`/users/{userId}/${path}`]?.post;
        if (!operation) throw new Error(`POST ${path} is missing`);
        expect(operation.requestBody?.required).toBe(true);
        const schema = bodySchema(document, operation);
        expect(schema).toMatchObject({ type: "object", required: ["amount"], additionalProperties: false });
        expect(schema?.properties?.amount).toMatchObject({ type: "integer" });
        expect(operation.parameters).toContainEqual(
          expect.objectContaining({ name: "Idempotency-Key", in: "header", required: true }),
        );
        expect(Object.keys(operation.responses)).toEqual(
          expect.arrayContaining(["400", "401", "404", "409"]),
        );
      }
      const capture = document.paths["/holds/{holdId}/capture"]?.post;
      if (!capture) throw new Error("POST capture is missing");
      expect(bodySchema(document, capture)?.properties?.amount).toMatchObject({ type: "integer" });
      expect(document.paths["/holds/{holdId}/release"]?.post?.parameters).toContainEqual(
        expect.objectContaining({ name: "Idempotency-Key", in: "header", required: true }),
      );
    });

    // A generated client checks the path against the documented pattern: it must refuse what the server
    // refuses (dots alone, which no URL can carry) and accept the ids the server accepts.
    it("documents the external id's pattern exactly as the server checks it", async () => {
      const document = await openApiDocument();
      const parameters = (document.paths["/customers/{externalId}"]?.get?.parameters ?? []) as Array<{
        name: string;
        schema?: { pattern?: string };
      }>;
      const pattern = parameters.find((parameter) => parameter.name === "externalId")?.schema?.pattern;
      expect(pattern).toBeDefined();
      const documented = new RegExp(pattern as string);
      for (const id of ["acme-42", "a.b", "...x", "org|user", "cus_9@acme:1"])
        expect(documented.test(id), id).toBe(true);
      for (const id of [".", "..", "...", "a b", "a/b", ""]) expect(documented.test(id), id).toBe(false);
    });

    // Every $ref must resolve inside the document (Swagger UI and code generators follow them).
    it("contains only $refs that resolve inside the document", async () => {
      const document = await openApiDocument();
      const unresolved = collectRefs(document).filter((ref) => resolvePointer(document, ref) === undefined);
      expect(unresolved).toEqual([]);
    });

    it("serves a readable HTML page that lists every endpoint", async () => {
      const response = await docsGet(new Request("http://localhost:3000/api/v1/docs"));

      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html).toMatch(/^<!doctype html>/i);
      const document = await openApiDocument();
      for (const path of API_PATHS) {
        for (const method of Object.keys(document.paths[path] ?? {}))
          expect(html).toContain(`<span class="method">${method.toUpperCase()}</span> <code>${path}</code>`);
      }
      expect(html).toContain("http://localhost:3000/api/v1/openapi.json");
      expect(html).toContain("Idempotency-Key");
    });

    it("shows each body's fields on the page, never a raw $ref or Markdown backticks", async () => {
      const html = await (await docsGet(new Request("http://localhost:3000/api/v1/docs"))).text();

      expect(html).not.toContain("$ref");
      expect(html).not.toContain("`");
      // The consume body's fields, with their limits and whether they are required.
      expect(html).toContain("<td><code>amount</code></td><td>integer, 1 to 1000000000</td><td>yes</td>");
      expect(html).toContain(
        "<td><code>description</code></td><td>string, 1 to 500 characters</td><td>no</td>",
      );
      expect(html).toContain("<code>Authorization: Bearer &#60;API key&#62;</code>");
      // Response headers a client acts on are on the page too.
      expect(html).toContain("Header <code>Retry-After</code>");
      expect(html).toContain("Header <code>Idempotent-Replayed</code>");
    });

    it("documents the answers every operation can give: 413 and 415 for bodies, 429 and 503 for all", async () => {
      const document = (await openApiDocument()) as {
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      };
      for (const [path, methods] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(methods)) {
          const statuses = Object.keys(operation.responses);
          expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(["429", "503"]));
          if (method === "post")
            expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(["413", "415"]));
        }
      }
    });
  });

  describe.runIf(kind === "postgres")("under concurrency (PostgreSQL)", () => {
    it("applies the same Idempotency-Key sent 20 times at once exactly once, and answers all 20 alike", async () => {
      const userId = await userWith(100);
      const request = as({ idempotencyKey: `burst-${randomUUID()}`, json: { amount: 7 } });

      const responses = await Promise.all(Array.from({ length: 20 }, () => v1.consume(userId, request)));

      const first = responses.find((response) => !response.replayed);
      expect(first).toEqual({
        status: 200,
        body: { entryId: expect.any(String), balance: 93 },
        replayed: false,
      });
      for (const response of responses) {
        expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: first?.body });
      }
      expect(responses.filter((response) => response.replayed)).toHaveLength(19);
      const consumes = (await entriesOf(database.db, userId)).filter((entry) => entry.type === "consume");
      expect(consumes).toHaveLength(1);
      expect((await getBalance(database.db, userId)).balance).toBe(93);
    });

    it("lets exactly 30 of 100 simultaneous spends of 1 succeed against 30 credits", async () => {
      const userId = await userWith(30);

      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          v1.consume(userId, as({ idempotencyKey: `spend-${i}`, json: { amount: 1 } })),
        ),
      );

      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(30);
      expect(statuses.filter((status) => status === 402)).toHaveLength(70);
      for (const response of responses.filter((r) => r.status === 402)) {
        expect(response.body.error).toMatchObject({ code: "insufficient_credits", available: 0 });
      }
      const balancesAfter = responses.filter((r) => r.status === 200).map((r) => r.body.balance);
      expect(balancesAfter.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(await getBalance(database.db, userId)).toEqual({ balance: 0, held: 0, available: 0, debt: 0 });
      expect((await entriesOf(database.db, userId)).filter((entry) => entry.type === "consume")).toHaveLength(
        30,
      );
    });
  });

  // Last, so it sees every answer the tests above received through the v1 helpers.
  describe("the OpenAPI document, against every answer the tests above received", () => {
    it("documents each status a route answered, and the Retry-After and Idempotent-Replayed headers it sent", async () => {
      // Answers the tests above do not provoke: a release whose body has a field, a stored 402 replayed.
      const released = await v1.release(randomUUID(), as({ json: { amount: 1 } }));
      expect([released.status, released.body.error?.code]).toEqual([400, "invalid_input"]);
      const userId = await userWith(0);
      const holdKey = randomUUID();
      const short = await v1.hold(userId, as({ idempotencyKey: holdKey, json: { amount: 5 } }));
      expect(short).toMatchObject({
        status: 402,
        body: { error: { code: "insufficient_credits", available: 0 } },
      });
      expect(await v1.hold(userId, as({ idempotencyKey: holdKey, json: { amount: 5 } }))).toMatchObject({
        status: 402,
        replayed: true,
      });

      const document = await (
        await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"))
      ).json();
      expect(undocumentedAnswers(document, observedAnswers)).toEqual([]);
      // The check is worth only as much as the answers it saw: the whole file's, not one test's.
      expect(observedAnswers.length).toBeGreaterThan(100);
    });

    it("documents the Error fields the routes send: retryable, and available with 402", async () => {
      const document = (await (
        await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"))
      ).json()) as {
        components: { schemas: Record<string, { properties: Record<string, JsonSchemaLike> }> };
      };
      const fields = document.components.schemas.Error?.properties.error?.properties ?? {};
      expect(fields.retryable).toMatchObject({ type: "boolean" });
      expect(fields.available).toMatchObject({ type: "integer" });
      // A 503 tells the client when to come back, as the document says.
      const busy = errorResponse(Object.assign(new Error("could not obtain lock"), { code: "55P03" }));
      expect([busy.status, busy.headers.get("retry-after")]).toEqual([503, "1"]);
      expect(await busy.json()).toMatchObject({ error: { code: "database_busy", retryable: true } });
    });
  });
});

type JsonSchemaLike = { type?: string; properties?: Record<string, JsonSchemaLike> };

/** Every `$ref` string anywhere in a JSON value. */
function collectRefs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(collectRefs);
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([name, child]) =>
    name === "$ref" && typeof child === "string" ? [child] : collectRefs(child),
  );
}

/** Resolves a local JSON pointer ("#/a/b") against the document root, as OpenAPI tools do. */
function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let current: unknown = document;
  for (const raw of ref.slice(2).split("/")) {
    const segment = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (!current || typeof current !== "object" || !(segment in current)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

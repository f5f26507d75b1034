import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { packageName } from "../../src/catalog/packages";
import { addCredits } from "../../src/credits/add-credits";
import { clawBackCredits } from "../../src/credits/claw-back-credits";
import { consumeCredits } from "../../src/credits/consume-credits";
import { createHold } from "../../src/credits/create-hold";
import { InvalidInputError } from "../../src/credits/errors";
import { getBalance } from "../../src/credits/get-balance";
import { legacyRequestHash, requestHash } from "../../src/credits/idempotency";
import { internalKey } from "../../src/credits/idempotency-keys";
import { useDatabaseConnection } from "../../src/db/client";
import { apiIdempotency, creditPurchase } from "../../src/db/schema";
import { createCreditPurchase } from "../../src/payment/create-credit-purchase";
import { SandboxPaymentProvider } from "../../src/payment/sandbox/sandbox-provider";
import { receiveWebhook } from "../../src/payment/webhooks/receive-webhook";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser, seedUserWithCredits } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { paymentIntentObject, signPayload, stripeEventPayload } from "../support/stripe-events";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const SECRET = "whsec_idempotency_key_tests";
const OPERATOR = { userId: null, label: "idempotency key tests" };

/** A key of `length` characters from the documented alphabet. */
function keyOf(length: number, seed = Math.random().toString(36).slice(2)): string {
  return `${seed}-`.repeat(length).slice(0, length);
}

describe.each(databaseKinds())("idempotency keys on %s", (kind) => {
  let database: TestDatabase;
  let apiKey: string;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    apiKey = (await createApiKey(database.db, "idempotency-tests", OPERATOR)).key;
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  const userWith = (credits: number) => seedUserWithCredits(database.db, credits);

  async function pendingPurchase() {
    const userId = await seedUser(database.db);
    const created = await createCreditPurchase(database.db, new SandboxPaymentProvider(database.db), {
      userId,
      packageId: "standard",
    });
    const succeeded = stripeEventPayload(
      "payment_intent.succeeded",
      paymentIntentObject({
        id: created.paymentIntentId,
        amount: 3999,
        currency: "usd",
        metadata: { purchaseId: created.purchaseId, userId, packageId: "standard" },
      }),
    );
    const deliver = () =>
      receiveWebhook(database.db, {
        rawBody: succeeded,
        signature: signPayload(succeeded, SECRET),
        secret: SECRET,
      });
    return { userId, ...created, deliver };
  }

  describe("one Idempotency-Key limit on every route (item 12)", () => {
    it("accepts a 255-character key on consume, grants and holds alike, and replays each", async () => {
      for (const length of [240, 255]) {
        const userId = await userWith(100);
        const calls = [
          () => v1.consume(userId, { key: apiKey, idempotencyKey: keyOf(length, "c"), json: { amount: 1 } }),
          () => v1.grant(userId, { key: apiKey, idempotencyKey: keyOf(length, "g"), json: { amount: 1 } }),
          () => v1.hold(userId, { key: apiKey, idempotencyKey: keyOf(length, "h"), json: { amount: 1 } }),
        ];
        for (const call of calls) {
          const first = await call();
          expect([200, 201], `${length}: ${JSON.stringify(first.body)}`).toContain(first.status);
          const again = await call();
          expect(again).toMatchObject({ status: first.status, replayed: true, body: first.body });
        }
      }
    });

    it("refuses a 256-character key, and the reserved forms, the same way on every route", async () => {
      const userId = await userWith(100);
      const hold = await v1.hold(userId, { key: apiKey, json: { amount: 1 } });
      for (const idempotencyKey of [
        keyOf(256),
        "creditkit/payment_intent:pi_1",
        "expire:x",
        "bonus:debt-repayment",
        "a b",
      ]) {
        const answers = await Promise.all([
          v1.consume(userId, { key: apiKey, idempotencyKey, json: { amount: 1 } }),
          v1.grant(userId, { key: apiKey, idempotencyKey, json: { amount: 1 } }),
          v1.hold(userId, { key: apiKey, idempotencyKey, json: { amount: 1 } }),
          v1.capture(hold.body.holdId, { key: apiKey, idempotencyKey, json: {} }),
          v1.release(hold.body.holdId, { key: apiKey, idempotencyKey, json: {} }),
        ]);
        for (const answer of answers) {
          expect(answer, idempotencyKey.slice(0, 30)).toMatchObject({
            status: 400,
            body: { error: { code: "idempotency_key_required" } },
          });
        }
      }
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 100, held: 1 });
    });

    it("applies the same limit to the library's operations, before anything is added to the key", async () => {
      const userId = await userWith(100);
      const ok = keyOf(255);
      await expect(
        addCredits(database.db, { userId, amount: 1, type: "grant", description: "g", idempotencyKey: ok }),
      ).resolves.toMatchObject({ replayed: false });
      await expect(
        consumeCredits(database.db, {
          userId,
          amount: 1,
          description: "c",
          idempotencyKey: `${ok.slice(1)}x`,
        }),
      ).resolves.toMatchObject({ ok: true });
      for (const idempotencyKey of [
        keyOf(256),
        "",
        "creditkit/signup-gift",
        "expire:lot",
        "g:debt-repayment",
      ]) {
        const attempts = [
          addCredits(database.db, { userId, amount: 1, type: "grant", description: "g", idempotencyKey }),
          consumeCredits(database.db, { userId, amount: 1, description: "c", idempotencyKey }),
          createHold(database.db, { userId, amount: 1, description: "h", idempotencyKey }),
          clawBackCredits(database.db, {
            userId,
            amount: 1,
            type: "refund",
            description: "r",
            idempotencyKey,
          }),
        ];
        for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
      }
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 100 });
    });
  });

  describe("request fingerprints ignore key order (item 13)", () => {
    it("replays a consume whose JSON carries the same metadata in another key order", async () => {
      const userId = await userWith(100);
      const idempotencyKey = keyOf(20);
      const first = await v1.consume(userId, {
        key: apiKey,
        idempotencyKey,
        body: '{"amount":3,"description":"export","metadata":{"job":"j-1","attempt":1,"zone":"eu"}}',
        contentType: "application/json",
      });
      expect(first.status).toBe(200);
      const retry = await v1.consume(userId, {
        key: apiKey,
        idempotencyKey,
        body: '{"metadata":{"zone":"eu","attempt":1,"job":"j-1"},"description":"export","amount":3}',
        contentType: "application/json",
      });
      expect(retry).toMatchObject({ status: 200, replayed: true, body: first.body });
      // Different data is still a different request.
      const other = await v1.consume(userId, {
        key: apiKey,
        idempotencyKey,
        json: { amount: 3, description: "export", metadata: { job: "j-2", attempt: 1, zone: "eu" } },
      });
      expect(other.status).toBe(409);
      expect((await getBalance(database.db, userId)).balance).toBe(97);
    });

    it("replays a grant and a hold sent with their fields in another order", async () => {
      const userId = await userWith(100);
      for (const [call, a, b] of [
        [
          v1.grant,
          '{"amount":5,"category":"paid","description":"bonus"}',
          '{"description":"bonus","category":"paid","amount":5}',
        ],
        [
          v1.hold,
          '{"amount":5,"ttlSeconds":60,"description":"job"}',
          '{"description":"job","ttlSeconds":60,"amount":5}',
        ],
      ] as const) {
        const idempotencyKey = keyOf(16);
        const first = await call(userId, {
          key: apiKey,
          idempotencyKey,
          body: a,
          contentType: "application/json",
        });
        const retry = await call(userId, {
          key: apiKey,
          idempotencyKey,
          body: b,
          contentType: "application/json",
        });
        expect(retry).toMatchObject({ status: first.status, replayed: true, body: first.body });
      }
    });

    it("keeps fingerprints of flat parameters as they were, so ledger entries stored before still replay", () => {
      const flat = {
        amount: 5,
        description: "Image generation",
        type: "consume",
        at: new Date(0),
        none: null,
      };
      expect(requestHash("consume", flat)).toBe(legacyRequestHash("consume", flat));
      const nested = { path: "/p", body: { amount: 1, metadata: { b: 1, a: 2 } } };
      const reordered = { body: { metadata: { a: 2, b: 1 }, amount: 1 }, path: "/p" };
      expect(requestHash("api", nested)).toBe(requestHash("api", reordered));
    });

    it("still replays service-API requests stored with the fingerprint of before the upgrade", async () => {
      const userId = await userWith(100);
      const body = { amount: 2, description: "d", metadata: { zeta: "z", alpha: "a" } };
      for (const [call, json, path] of [
        [v1.consume, body, `/api/v1/users/${userId}/consume`],
        // The earlier code fingerprinted the parsed body, whose fields come in the schema's order.
        [
          v1.grant,
          { amount: 4, expiresAt: "2099-01-01T00:00:00.000Z", category: "paid", description: "bonus" },
          `/api/v1/users/${userId}/grants`,
        ],
      ] as const) {
        const idempotencyKey = keyOf(24);
        const first = await call(userId, { key: apiKey, idempotencyKey, json });
        expect([200, 201]).toContain(first.status);
        // What the earlier code stored: the body in its arrival order, not canonical JSON.
        await database.db
          .update(apiIdempotency)
          .set({ requestHash: legacyRequestHash("api", { path, body: json }) })
          .where(eq(apiIdempotency.idempotencyKey, idempotencyKey));
        const [stored] = await database.db
          .select()
          .from(apiIdempotency)
          .where(eq(apiIdempotency.idempotencyKey, idempotencyKey));
        expect(stored?.requestHash).not.toBe(requestHash("api", { path, body: json }));
        const retry = await call(userId, { key: apiKey, idempotencyKey, json });
        expect(retry).toMatchObject({ status: first.status, replayed: true, body: first.body });
      }
      expect((await getBalance(database.db, userId)).balance).toBe(102);
    });
  });

  describe("internal keys and callers' keys cannot collide (item 14)", () => {
    it("a spend keyed like a purchase's grant does not block the purchase", async () => {
      const purchase = await pendingPurchase();
      await addCredits(database.db, {
        userId: purchase.userId,
        amount: 10,
        type: "grant",
        description: "gift",
        idempotencyKey: "gift",
      });
      const spend = await consumeCredits(database.db, {
        userId: purchase.userId,
        amount: 5,
        description: "work",
        idempotencyKey: `payment_intent:${purchase.paymentIntentId}`,
      });
      expect(spend.ok).toBe(true);
      expect(await purchase.deliver()).toMatchObject({ outcome: "granted" });
      expect((await getBalance(database.db, purchase.userId)).balance).toBe(505);
    });

    it("a redelivered purchase event never conflicts with its grant, even after the package was renamed", async () => {
      const purchase = await pendingPurchase();
      // The grant as an earlier delivery wrote it, when the package had another display name, and the
      // purchase as that delivery left it.
      const grant = await addCredits(database.db, {
        userId: purchase.userId,
        amount: 500,
        type: "purchase",
        description: "Purchased Old Name package",
        idempotencyKey: internalKey("payment_intent", purchase.paymentIntentId),
        reference: purchase.paymentIntentId,
        purchaseId: purchase.purchaseId,
      });
      await database.db
        .update(creditPurchase)
        .set({ status: "succeeded", grantEntryId: grant.entryId })
        .where(eq(creditPurchase.id, purchase.purchaseId));
      expect(await purchase.deliver()).toMatchObject({ outcome: "already_granted" });
      expect((await getBalance(database.db, purchase.userId)).balance).toBe(500);
    });

    it("a caller key cannot replay the debt repayment of another grant", async () => {
      const userId = await seedUser(database.db);
      await clawBackCredits(database.db, {
        userId,
        amount: 30,
        type: "refund",
        description: "r",
        idempotencyKey: "r",
      });
      await addCredits(database.db, {
        userId,
        amount: 100,
        type: "grant",
        description: "g",
        idempotencyKey: "g",
      });
      await expect(
        consumeCredits(database.db, {
          userId,
          amount: 30,
          description: "c",
          idempotencyKey: "g:debt-repayment",
        }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 70, debt: 0 });
    });

    it("a purchase credited before the upgrade is not credited again when its event is redelivered after it", async () => {
      const purchase = await pendingPurchase();
      // The grant as the earlier code wrote it: key `payment_intent:<id>`, in the callers' space.
      const grant = await addCredits(database.db, {
        userId: purchase.userId,
        amount: 500,
        type: "purchase",
        description: `Purchased ${packageName({ id: "standard" })} package`,
        idempotencyKey: `payment_intent:${purchase.paymentIntentId}`,
        reference: purchase.paymentIntentId,
        purchaseId: purchase.purchaseId,
        metadata: { purchaseId: purchase.purchaseId, packageId: "standard" },
      });
      await database.db
        .update(creditPurchase)
        .set({ status: "succeeded", grantEntryId: grant.entryId })
        .where(eq(creditPurchase.id, purchase.purchaseId));

      await runMigration("0006_internal_keys_and_purchase_facts.sql");

      expect(await purchase.deliver()).toMatchObject({ outcome: "already_granted" });
      expect((await getBalance(database.db, purchase.userId)).balance).toBe(500);
      const grants = await rowsOf<{ idempotency_key: string }>(
        sql`SELECT idempotency_key FROM credit_entry WHERE user_id = ${purchase.userId} AND type = 'purchase'`,
      );
      expect(grants).toEqual([{ idempotency_key: `creditkit/payment_intent:${purchase.paymentIntentId}` }]);
    });

    it("the upgrade leaves an integrator's own key of a similar shape alone", async () => {
      const userId = await userWith(100);
      await consumeCredits(database.db, {
        userId,
        amount: 1,
        description: "c",
        idempotencyKey: "payment_intent:mine",
      });
      await runMigration("0006_internal_keys_and_purchase_facts.sql");
      const again = await consumeCredits(database.db, {
        userId,
        amount: 1,
        description: "c",
        idempotencyKey: "payment_intent:mine",
      });
      expect(again).toMatchObject({ ok: true, replayed: true });
      const keys = await rowsOf(
        sql`SELECT 1 FROM credit_entry WHERE user_id = ${userId} AND idempotency_key = 'payment_intent:mine'`,
      );
      expect(keys).toHaveLength(1);
    });
  });

  async function rowsOf<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]> {
    return ((await database.db.execute(query)) as unknown as { rows: T[] }).rows;
  }

  /** Runs one of the app's migrations again, statement by statement, as the migrator would. */
  async function runMigration(file: string): Promise<void> {
    const path = fileURLToPath(new URL(`../../src/db/migrations/${file}`, import.meta.url));
    for (const statement of readFileSync(path, "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) await database.db.execute(sql.raw(statement));
    }
  }
});

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getUserOverview } from "../../src/admin/get-user-overview";
import { listAuditLog } from "../../src/admin/list-audit-log";
import { listUsers } from "../../src/admin/list-users";
import { getBalance } from "../../src/credits/get-balance";
import { sqlRows } from "../../src/credits/sql-rows";
import { useDatabaseConnection } from "../../src/db/client";
import { apiKey, auditLog, creditAccount, creditEntry, user } from "../../src/db/schema";
import { createApiKey } from "../../src/service-api/api-keys";
import type { ApiScope } from "../../src/service-api/api-scopes";
import { observedAnswers, undocumentedAnswers, type V1Call, v1, v1Customers } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { openApiGet } from "../support/route-handlers";
import { seedUserWithCredits } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "customers tests" };

describe.each(databaseKinds())("customers by external id on %s", (kind) => {
  let database: TestDatabase;
  let key: string;
  let counter = 0;
  /** A fresh external id per test, in the documented alphabet's corners. */
  const newExternalId = () => `acme|org-${++counter}:user.${counter}@x_${kind}`;

  beforeAll(async () => {
    database = await createTestDatabase(kind, { poolSize: 30 });
    useDatabaseConnection(database);
    key = (await createApiKey(database.db, "platform", OPERATOR)).key;
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    if (!database) return;
    await database.close();
  });

  const as = (call: V1Call = {}): V1Call => ({ key, ...call });
  const keyWith = async (scopes: ApiScope[]) =>
    (await createApiKey(database.db, `only ${scopes.join(",")}`, OPERATOR, scopes)).key;

  async function accountsOf(externalId: string) {
    return database.db.select().from(creditAccount).where(eq(creditAccount.externalId, externalId));
  }

  describe("PUT and GET /customers/{externalId}", () => {
    it("creates (201), updates (200) keeping fields left out, clears with null, and reads with the balance", async () => {
      const externalId = newExternalId();
      const created = await v1Customers.put(
        externalId,
        as({ json: { email: "ann@example.test", name: "Ann", metadata: { plan: "pro", seats: 3 } } }),
      );
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        externalId,
        email: "ann@example.test",
        name: "Ann",
        metadata: { plan: "pro", seats: 3 },
      });
      expect(created.body.userId).toMatch(/^cus_[0-9a-f]{32}$/);

      const updated = await v1Customers.put(externalId, as({ json: { name: "Ann B." } }));
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({
        userId: created.body.userId,
        email: "ann@example.test",
        name: "Ann B.",
        metadata: { plan: "pro", seats: 3 },
        createdAt: created.body.createdAt,
      });

      const cleared = await v1Customers.put(externalId, as({ json: { email: null, metadata: null } }));
      expect(cleared.status).toBe(200);
      expect(cleared.body).toMatchObject({ email: null, name: "Ann B.", metadata: {} });

      const read = await v1Customers.get(externalId, as());
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ externalId, userId: created.body.userId, name: "Ann B." });
      expect(read.body.balance).toMatchObject({
        balance: 0,
        held: 0,
        available: 0,
        debt: 0,
        plan: { id: "free" },
      });
      expect(await accountsOf(externalId)).toHaveLength(1);

      const audit = await database.db
        .select({ action: auditLog.action, actor: auditLog.actorLabel })
        .from(auditLog)
        .where(eq(auditLog.targetUserId, created.body.userId));
      expect(audit.map((row) => row.action).sort()).toEqual([
        "customer.create",
        "customer.update",
        "customer.update",
      ]);
      expect(audit.every((row) => row.actor === "api-key:platform")).toBe(true);
    });

    it("makes one account for concurrent identical PUTs: one 201, the others 200", async () => {
      const externalId = newExternalId();
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => v1Customers.put(externalId, as({ json: { name: "Same" } }))),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(answers.map((answer) => answer.body.userId)).size).toBe(1);
      expect(await accountsOf(externalId)).toHaveLength(1);
    });

    it("treats external ids as case-sensitive and unique: two ids, two accounts", async () => {
      const lower = `case-${kind}-abc`;
      const upper = `case-${kind}-ABC`;
      const a = await v1Customers.put(lower, as({ json: {} }));
      const b = await v1Customers.put(upper, as());
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(a.body.userId).not.toBe(b.body.userId);
    });

    it.each([
      ["a space", "has space"],
      ["a slash-free but non-ASCII letter", "café"],
      ["a percent sign", "100%"],
      ["a plus", "a+b"],
      ["256 characters", "x".repeat(256)],
    ])("refuses an external id with %s (400 invalid_input, nothing created)", async (_label, externalId) => {
      const before = await database.db.select({ n: sql<number>`count(*)::int` }).from(creditAccount);
      const put = await v1Customers.put(externalId, as({ json: {} }));
      expect(put.status).toBe(400);
      expect(put.body.error?.code).toBe("invalid_input");
      expect(put.body.error?.message).toContain("_ - . : @ |");
      for (const answer of [
        await v1Customers.get(externalId, as()),
        await v1Customers.balance(externalId, as()),
        await v1Customers.grant(externalId, as({ json: { amount: 1 } })),
      ]) {
        expect(answer.status).toBe(400);
        expect(answer.body.error?.code).toBe("invalid_input");
      }
      expect(await database.db.select({ n: sql<number>`count(*)::int` }).from(creditAccount)).toEqual(before);
    });

    it("takes an external id of exactly 255 characters", async () => {
      const externalId = `${kind}-${"y".repeat(255 - kind.length - 1)}`;
      expect(externalId).toHaveLength(255);
      expect((await v1Customers.put(externalId, as())).status).toBe(201);
    });

    it.each([
      ["an unknown field", { nickname: "x" }],
      ["an email that is not one", { email: "not-an-email" }],
      ["an empty name", { name: "  " }],
      [
        "metadata over 20 keys",
        { metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) },
      ],
      ["a nested metadata value", { metadata: { deep: { a: 1 } } }],
      ["a metadata value over 500 characters", { metadata: { note: "z".repeat(501) } }],
    ])("refuses a body with %s (400, nothing created)", async (_label, json) => {
      const externalId = newExternalId();
      const answer = await v1Customers.put(externalId, as({ json }));
      expect(answer.status).toBe(400);
      expect(await accountsOf(externalId)).toHaveLength(0);
    });
  });

  describe("the user-scoped routes under /customers/{externalId}", () => {
    it("grant, consume with an Idempotency-Key, hold and capture, balance and transactions", async () => {
      const externalId = newExternalId();
      const { userId } = (await v1Customers.put(externalId, as())).body;

      const granted = await v1Customers.grant(externalId, as({ json: { amount: 100 } }));
      expect(granted).toMatchObject({ status: 201, body: { balance: 100 } });

      const spend = { idempotencyKey: `spend-${externalId.length}-${counter}`, json: { amount: 30 } };
      const spent = await v1Customers.consume(externalId, as(spend));
      expect(spent).toMatchObject({ status: 200, body: { balance: 70 }, replayed: false });
      const again = await v1Customers.consume(externalId, as(spend));
      expect(again).toMatchObject({ status: 200, body: spent.body, replayed: true });
      const tooMuch = await v1Customers.consume(externalId, as({ json: { amount: 71 } }));
      expect(tooMuch.status).toBe(402);
      expect(tooMuch.body.error).toMatchObject({ code: "insufficient_credits", available: 70 });

      const hold = await v1Customers.hold(externalId, as({ json: { amount: 20 } }));
      expect(hold.status).toBe(201);
      expect((await v1Customers.balance(externalId, as())).body).toMatchObject({
        balance: 70,
        held: 20,
        available: 50,
      });
      // Holds are addressed by their id, whoever owns them: the same capture route as a user's hold.
      const captured = await v1.capture(hold.body.holdId, as({ json: { amount: 15 } }));
      expect(captured).toMatchObject({ status: 200, body: { balance: 55 } });

      const balance = await v1Customers.balance(externalId, as());
      expect(balance.body).toMatchObject({
        balance: 55,
        held: 0,
        available: 55,
        debt: 0,
        plan: { id: "free" },
      });
      expect((await v1Customers.get(externalId, as())).body.balance).toEqual(balance.body);
      expect(await getBalance(database.db, userId)).toMatchObject({ balance: 55 });

      const page = await v1Customers.transactions(externalId, as({ query: "limit=2" }));
      expect(page.status).toBe(200);
      expect(page.body.items.map((item) => [item.type, item.amount])).toEqual([
        ["consume", -15],
        ["consume", -30],
      ]);
      const rest = await v1Customers.transactions(
        externalId,
        as({ query: `cursor=${page.body.nextCursor}` }),
      );
      expect(rest.body.items.map((item) => [item.type, item.amount])).toEqual([["grant", 100]]);
      // The same account through its id: /users/{userId} takes a customer's account id too.
      expect((await v1.balance(userId, as())).body).toEqual(balance.body);
    });

    it("answers 404 customer_not_found for an unknown external id on every route, and creates nothing", async () => {
      const externalId = newExternalId();
      const answers = [
        await v1Customers.get(externalId, as()),
        await v1Customers.balance(externalId, as()),
        await v1Customers.transactions(externalId, as()),
        await v1Customers.grant(externalId, as({ json: { amount: 5 } })),
        await v1Customers.consume(externalId, as({ json: { amount: 5 } })),
        await v1Customers.hold(externalId, as({ json: { amount: 5 } })),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(404);
        expect(answer.body.error?.code).toBe("customer_not_found");
      }
      expect(await accountsOf(externalId)).toHaveLength(0);
    });

    it("needs each route's scope: admin to create or update, read to read, and so on", async () => {
      const externalId = newExternalId();
      const readOnly = await keyWith(["read"]);
      const spendOnly = await keyWith(["spend"]);
      const admin = await keyWith(["admin"]);

      const refused = await v1Customers.put(externalId, { key: readOnly, json: {} });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toMatchObject({ code: "insufficient_scope", requiredScope: "admin" });
      expect(await accountsOf(externalId)).toHaveLength(0);
      expect((await v1Customers.put(externalId, { key: admin, json: {} })).status).toBe(201);

      // An admin key manages customers; it does not read or move their credits.
      expect((await v1Customers.get(externalId, { key: admin })).body.error?.code).toBe("insufficient_scope");
      expect((await v1Customers.get(externalId, { key: readOnly })).status).toBe(200);
      expect((await v1Customers.grant(externalId, { key: spendOnly, json: { amount: 5 } })).status).toBe(403);
      expect((await v1Customers.consume(externalId, { key: readOnly, json: { amount: 5 } })).status).toBe(
        403,
      );
      // A key without the scope learns nothing about which customers exist: 403 before the look-up.
      expect((await v1Customers.grant(newExternalId(), { key: spendOnly, json: { amount: 5 } })).status).toBe(
        403,
      );
      expect((await v1Customers.balance(externalId, {})).status).toBe(401);
    });

    it("changes nothing for signed-up users: their routes answer as before, and a user id is no external id", async () => {
      const userId = await seedUserWithCredits(database.db, 40);
      expect((await v1.consume(userId, as({ json: { amount: 10 } }))).body).toMatchObject({ balance: 30 });
      expect((await v1.balance(userId, as())).body).toMatchObject({ balance: 30 });
      // A user's id names no customer: customers are found by their external id only.
      expect((await v1Customers.balance(userId, as())).body.error?.code).toBe("customer_not_found");
      const [account] = await database.db
        .select()
        .from(creditAccount)
        .where(eq(creditAccount.userId, userId));
      expect(account).toMatchObject({ externalId: null, ownerUserId: userId });
    });

    it("deletes a user's account and ledger with the user, and keeps customers' accounts", async () => {
      const userId = await seedUserWithCredits(database.db, 10);
      const externalId = newExternalId();
      const { userId: customerAccount } = (await v1Customers.put(externalId, as())).body;
      await v1Customers.grant(externalId, as({ json: { amount: 7 } }));
      await database.db.delete(user).where(eq(user.id, userId));
      expect(
        await database.db.select().from(creditAccount).where(eq(creditAccount.userId, userId)),
      ).toHaveLength(0);
      expect(await database.db.select().from(creditEntry).where(eq(creditEntry.userId, userId))).toHaveLength(
        0,
      );
      expect(await getBalance(database.db, customerAccount)).toMatchObject({ balance: 7 });
    });

    it("a ledger account without a user or an external id cannot be made (the foreign key still holds)", async () => {
      await expect(
        database.db.insert(creditAccount).values({ userId: "no-such-user" }),
      ).rejects.toMatchObject({ cause: { code: "23503" } });
      // A customer's account must carry the prefix Better Auth never makes.
      await expect(
        database.db.insert(creditAccount).values({ userId: "abc", externalId: "abc" }),
      ).rejects.toMatchObject({ cause: { code: "23514" } });
    });
  });

  describe("the admin console", () => {
    it("finds customers by external id, email or name, marked as customers, beside users", async () => {
      const externalId = `admin-search|${kind}:7@acme`;
      const { userId: accountId } = (
        await v1Customers.put(externalId, as({ json: { email: "buyer@acme.test", name: "Acme Buyer" } }))
      ).body;
      await v1Customers.grant(externalId, as({ json: { amount: 12 } }));
      const userId = await seedUserWithCredits(database.db, 3);

      for (const query of [`search|${kind}:7`, "buyer@acme", "acme buyer"]) {
        const { users } = await listUsers(database.db, { query });
        expect(
          users.map((row) => row.id),
          query,
        ).toEqual([accountId]);
        expect(users[0]).toMatchObject({
          externalId,
          email: "buyer@acme.test",
          name: "Acme Buyer",
          balance: 12,
        });
      }
      // A `_` or `%` in the query is matched as itself, not as a wildcard.
      expect((await listUsers(database.db, { query: "search_" })).users).toEqual([]);
      // Users are listed and found as before, without an external id.
      const all = await listUsers(database.db, { limit: 100 });
      expect(all.users.find((row) => row.id === userId)).toMatchObject({ externalId: null, balance: 3 });
      expect(all.users.find((row) => row.id === accountId)).toMatchObject({ externalId });
      const [newest, second] = all.users;
      expect(newest?.id).toBe(userId);
      expect(second?.id).toBe(accountId);
      // The cursor pages through users and customers alike.
      const first = await listUsers(database.db, { limit: 1 });
      expect(first.users.map((row) => row.id)).toEqual([userId]);
      const next = await listUsers(database.db, { limit: 1, before: first.nextBefore ?? "" });
      expect(next.users.map((row) => row.id)).toEqual([accountId]);

      const overview = await getUserOverview(database.db, accountId);
      expect(overview.user).toMatchObject({ id: accountId, externalId, email: "buyer@acme.test" });
      expect(overview.balance).toMatchObject({ balance: 12 });
      expect(overview.history.map((entry) => entry.amount)).toEqual([12]);
      expect((await getUserOverview(database.db, userId)).user).toMatchObject({ externalId: null });

      const audit = await listAuditLog(database.db);
      expect(audit.find((entry) => entry.targetUserId === accountId)?.targetEmail).toBe(externalId);
    });
  });

  describe("the migration", () => {
    it("keeps every balance, entry and API key of a database made before customers existed", async () => {
      const userId = await seedUserWithCredits(database.db, 25);
      await v1.consume(userId, as({ json: { amount: 5 } }));
      // The table as it was before 0019 (customers' accounts cannot exist then: they go first).
      await database.db.execute(sql`DELETE FROM credit_account WHERE external_id IS NOT NULL`);
      const keysBefore = await database.db.select().from(apiKey);
      const accountsBefore = await database.db
        .select({ userId: creditAccount.userId, balance: creditAccount.balance, held: creditAccount.held })
        .from(creditAccount)
        .where(sql`${creditAccount.externalId} IS NULL`);
      const entriesBefore = await database.db.select().from(creditEntry);

      for (const statement of [
        "ALTER TABLE credit_account DROP CONSTRAINT credit_account_customer_id",
        'ALTER TABLE credit_account DROP CONSTRAINT "credit_account_externalId_unique"',
        "ALTER TABLE credit_account DROP COLUMN owner_user_id",
        "ALTER TABLE credit_account DROP COLUMN external_id, DROP COLUMN email, DROP COLUMN name, DROP COLUMN metadata, DROP COLUMN created_at",
        'ALTER TABLE credit_account ADD CONSTRAINT "credit_account_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade',
      ])
        await database.db.execute(sql.raw(statement));
      await runMigration("0019_accounts_by_external_id.sql");

      expect(await database.db.select().from(apiKey)).toEqual(keysBefore);
      expect(
        await database.db
          .select({ userId: creditAccount.userId, balance: creditAccount.balance, held: creditAccount.held })
          .from(creditAccount),
      ).toEqual(expect.arrayContaining(accountsBefore));
      expect(
        await database.db
          .select()
          .from(creditAccount)
          .where(sql`${creditAccount.ownerUserId} IS DISTINCT FROM ${creditAccount.userId}`),
      ).toEqual([]);
      expect(await database.db.select().from(creditEntry).where(sql`true`)).toEqual(
        expect.arrayContaining(entriesBefore),
      );
      // Spending and making customers work after it.
      expect((await v1.consume(userId, as({ json: { amount: 5 } }))).body).toMatchObject({ balance: 15 });
      expect((await v1Customers.put(newExternalId(), as())).status).toBe(201);
      const keys = sqlRows<{ conname: string }>(
        await database.db.execute(
          sql`SELECT conname FROM pg_constraint WHERE conrelid = 'credit_account'::regclass AND contype = 'f'`,
        ),
      );
      expect(keys.map((key) => key.conname)).toEqual(["credit_account_owner_user_id_user_id_fk"]);
    });

    async function runMigration(file: string): Promise<void> {
      const path = fileURLToPath(new URL(`../../src/db/migrations/${file}`, import.meta.url));
      await database.db.transaction(async (tx) => {
        for (const statement of readFileSync(path, "utf8").split("--> statement-breakpoint")) {
          if (statement.trim()) await tx.execute(sql.raw(statement));
        }
      });
    }
  });

  it("the OpenAPI document describes every customer route and every answer the tests saw", async () => {
    const response = await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"));
    const document = (await response.json()) as {
      paths: Record<
        string,
        Record<string, { "x-required-scope"?: string; responses: Record<string, unknown> }>
      >;
    };
    const scopes = {
      "put /customers/{externalId}": "admin",
      "get /customers/{externalId}": "read",
      "get /customers/{externalId}/balance": "read",
      "get /customers/{externalId}/transactions": "read",
      "post /customers/{externalId}/consume": "spend",
      "post /customers/{externalId}/grants": "grant",
      "post /customers/{externalId}/holds": "holds",
    };
    for (const [operation, scope] of Object.entries(scopes)) {
      const [method, path] = operation.split(" ") as [string, string];
      expect(document.paths[path]?.[method]?.["x-required-scope"], operation).toBe(scope);
    }
    expect(Object.keys(document.paths["/customers/{externalId}"]?.put?.responses ?? {})).toEqual(
      expect.arrayContaining(["200", "201", "400", "403"]),
    );
    expect(undocumentedAnswers(document as never, observedAnswers)).toEqual([]);
  });
});

import { randomBytes, randomUUID } from "node:crypto";
import fs, { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAuditLog } from "../../src/admin/list-audit-log";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { apiIdempotency, apiKey, auditLog } from "../../src/db/schema";
import { defineRoute } from "../../src/server/define-route";
import { withApiKey } from "../../src/server/with-api-key";
import { createApiKey, forgetVerifiedApiKeys, hashApiKey, listApiKeys } from "../../src/service-api/api-keys";
import { API_SCOPES, type ApiScope } from "../../src/service-api/api-scopes";
import { observedAnswers, undocumentedAnswers, v1 } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { runCli } from "../support/processes";
import { openApiGet } from "../support/route-handlers";
import { seedUserWithCredits } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * Scoped API keys: each v1 route names the scope it needs, a key without it is refused with 403
 * `insufficient_scope` before anything happens, keys made before scopes existed keep every scope, and each
 * mutation made with a key is in the audit log under the key's name.
 */

const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "scope tests" };

describe.each(databaseKinds())("scoped API keys on %s", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  async function keyWith(scopes: readonly ApiScope[], name = `key-${randomUUID().slice(0, 8)}`) {
    return (await createApiKey(database.db, name, OPERATOR, scopes)).key;
  }

  async function idempotencyRows(idempotencyKey: string) {
    return database.db.select().from(apiIdempotency).where(eq(apiIdempotency.idempotencyKey, idempotencyKey));
  }

  async function auditOf(userId: string) {
    return database.db.select().from(auditLog).where(eq(auditLog.targetUserId, userId));
  }

  it("a key without `grant` is refused with 403 naming `grant`, and nothing is written", async () => {
    const key = await keyWith(["read", "spend", "holds"]);
    const userId = await seedUserWithCredits(database.db, 30);
    const idempotencyKey = `grant-${randomUUID()}`;

    const response = await v1.grant(userId, { key, idempotencyKey, json: { amount: 1000 } });

    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      error: {
        code: "insufficient_scope",
        message: expect.stringContaining("grant"),
        requiredScope: "grant",
      },
    });
    expect(response.replayed).toBe(false);
    expect((await getBalance(database.db, userId)).balance).toBe(30);
    expect(await idempotencyRows(idempotencyKey)).toEqual([]);
    expect(await auditOf(userId)).toEqual([]);
    // The same key does what its scopes allow.
    const spend = await v1.consume(userId, { key, json: { amount: 5 } });
    expect(spend.status).toBe(200);
  });

  it("the scope is checked before the body and the Idempotency-Key: a refused key learns nothing else", async () => {
    const key = await keyWith(["read"]);
    const userId = await seedUserWithCredits(database.db, 10);

    const response = await v1.grant(userId, { key, idempotencyKey: null, body: "{not json" });

    expect([response.status, response.body.error?.code]).toEqual([403, "insufficient_scope"]);
  });

  it("the scope is checked before a stored answer is replayed", async () => {
    const created = await createApiKey(database.db, `narrowed-${randomUUID().slice(0, 8)}`, OPERATOR);
    const userId = await seedUserWithCredits(database.db, 10);
    const idempotencyKey = `grant-${randomUUID()}`;
    const first = await v1.grant(userId, { key: created.key, idempotencyKey, json: { amount: 5 } });
    expect(first.status).toBe(201);
    // An operator takes `grant` away from the key in the database (the app has no way to narrow a key).
    await database.db
      .update(apiKey)
      .set({ scopes: ["read"] })
      .where(eq(apiKey.id, created.apiKey.id));
    forgetVerifiedApiKeys();

    const retry = await v1.grant(userId, { key: created.key, idempotencyKey, json: { amount: 5 } });

    expect([retry.status, retry.body.error?.code, retry.replayed]).toEqual([
      403,
      "insufficient_scope",
      false,
    ]);
    expect((await getBalance(database.db, userId)).balance).toBe(15);
  });

  it("a read-only key reads, and every mutation names the scope it lacks", async () => {
    const key = await keyWith(["read"]);
    const full = await keyWith(API_SCOPES);
    const userId = await seedUserWithCredits(database.db, 50);
    const hold = await v1.hold(userId, { key: full, json: { amount: 10 } });
    expect(hold.status).toBe(201);
    const before = await getBalance(database.db, userId);

    expect((await v1.balance(userId, { key })).body).toMatchObject({ balance: 50, held: 10 });
    const transactions = await v1.transactions(userId, { key });
    expect(transactions.status).toBe(200);
    expect(transactions.body.items.length).toBeGreaterThan(0);

    const refused = [
      [await v1.consume(userId, { key, json: { amount: 1 } }), "spend"],
      [await v1.grant(userId, { key, json: { amount: 1 } }), "grant"],
      [await v1.hold(userId, { key, json: { amount: 1 } }), "holds"],
      [await v1.capture(hold.body.holdId, { key, json: {} }), "holds"],
      [await v1.release(hold.body.holdId, { key, json: {} }), "holds"],
    ] as const;
    for (const [response, scope] of refused) {
      expect([response.status, response.body.error?.code]).toEqual([403, "insufficient_scope"]);
      expect((response.body.error as { requiredScope?: string }).requiredScope).toBe(scope);
    }
    expect(await getBalance(database.db, userId)).toEqual(before);

    // And a key without `read` cannot read.
    const spender = await keyWith(["spend"]);
    const read = await v1.balance(userId, { key: spender });
    expect([read.status, (read.body.error as { requiredScope?: string })?.requiredScope]).toEqual([
      403,
      "read",
    ]);
    await v1.release(hold.body.holdId, { key: full, json: {} });
  });

  it("a key made before scopes existed keeps full access after the migration", async () => {
    const userId = await seedUserWithCredits(database.db, 20);
    const key = `ck_${randomBytes(24).toString("base64url")}`;
    // The table as it was before 0016, and a key written the way the app wrote it then.
    await database.db.execute(sql`ALTER TABLE api_key DROP COLUMN scopes`);
    try {
      await database.db.execute(
        sql`INSERT INTO api_key (name, prefix, key_hash) VALUES ('legacy backend', ${key.slice(0, 10)}, ${hashApiKey(key)})`,
      );
    } finally {
      await runMigration("0017_api_key_scopes.sql");
    }

    const legacy = (await listApiKeys(database.db)).find((row) => row.name === "legacy backend");
    expect(legacy?.scopes).toEqual([...API_SCOPES]);
    expect((await v1.grant(userId, { key, json: { amount: 5 } })).status).toBe(201);
    expect((await v1.consume(userId, { key, json: { amount: 3 } })).status).toBe(200);
    const hold = await v1.hold(userId, { key, json: { amount: 2 } });
    expect(hold.status).toBe(201);
    expect((await v1.release(hold.body.holdId, { key, json: {} })).status).toBe(200);
    expect((await v1.balance(userId, { key })).body).toMatchObject({ balance: 22 });
  });

  it("a key is made with the scopes chosen, in canonical order, and at least one", async () => {
    const created = await createApiKey(database.db, "ordered", OPERATOR, ["spend", "read", "spend"]);
    expect(created.apiKey.scopes).toEqual(["read", "spend"]);
    expect((await listApiKeys(database.db)).find((row) => row.id === created.apiKey.id)?.scopes).toEqual([
      "read",
      "spend",
    ]);
    await expect(createApiKey(database.db, "nothing", OPERATOR, [])).rejects.toMatchObject({
      code: "invalid_input",
    });
    await expect(createApiKey(database.db, "root", OPERATOR, ["root" as ApiScope])).rejects.toMatchObject({
      code: "invalid_input",
    });
    const [audit] = await database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, "api_key.create"), sql`${auditLog.details}->>'name' = 'ordered'`));
    expect(audit?.details).toMatchObject({ scopes: ["read", "spend"] });
  });

  it("each grant, spend, hold, capture and release is in the audit log under the key's name; reads are not", async () => {
    const name = `Billing backend ${randomUUID().slice(0, 6)}`;
    const key = await keyWith(API_SCOPES, name);
    const userId = await seedUserWithCredits(database.db, 100);

    await v1.balance(userId, { key });
    await v1.transactions(userId, { key });
    expect((await v1.grant(userId, { key, json: { amount: 10 } })).status).toBe(201);
    expect((await v1.consume(userId, { key, json: { amount: 7 } })).status).toBe(200);
    // A refused spend (402) changes nothing and is not recorded.
    expect((await v1.consume(userId, { key, json: { amount: 10_000 } })).status).toBe(402);
    const captured = await v1.hold(userId, { key, json: { amount: 20 } });
    expect((await v1.capture(captured.body.holdId, { key, json: { amount: 15 } })).status).toBe(200);
    const released = await v1.hold(userId, { key, json: { amount: 5 } });
    expect((await v1.release(released.body.holdId, { key, json: {} })).status).toBe(200);
    // A retry with the same Idempotency-Key replays and records nothing more.
    const retryKey = randomUUID();
    await v1.consume(userId, { key, idempotencyKey: retryKey, json: { amount: 1 } });
    const replay = await v1.consume(userId, { key, idempotencyKey: retryKey, json: { amount: 1 } });
    expect(replay.replayed).toBe(true);

    const shown = (await listAuditLog(database.db, 500)).filter((entry) => entry.targetUserId === userId);
    expect(shown.map((entry) => entry.action).sort()).toEqual(
      [
        "credits.consume",
        "credits.consume",
        "credits.grant",
        "hold.capture",
        "hold.create",
        "hold.create",
        "hold.release",
      ].sort(),
    );
    for (const entry of shown) {
      expect(entry.actor).toBe(`api-key:${name}`);
      expect(entry.details).toMatchObject({ apiKeyId: expect.any(String) });
    }
    const spend = shown.find((entry) => entry.action === "credits.consume" && entry.details.amount === 7);
    expect(spend?.details).toMatchObject({ amount: 7, entryId: expect.any(Number) });
    expect(shown.find((entry) => entry.action === "hold.capture")?.details).toMatchObject({
      amount: 15,
      holdId: captured.body.holdId,
    });
  });

  async function runMigration(file: string): Promise<void> {
    const path = fileURLToPath(new URL(`../../src/db/migrations/${file}`, import.meta.url));
    for (const statement of readFileSync(path, "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) await database.db.execute(sql.raw(statement));
    }
  }
});

describe("the OpenAPI document", () => {
  type Operation = {
    description: string;
    "x-required-scope"?: string;
    security?: Record<string, string[]>[];
    responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  };

  it("lists the 403 and the scope of every operation", async () => {
    const response = await openApiGet(new Request("http://localhost:3000/api/v1/openapi.json"));
    const document = (await response.json()) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    const scopes = Object.fromEntries(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => [`${method} ${path}`, operation]),
      ),
    );
    const expected: Record<string, ApiScope> = {
      "get /users/{userId}/balance": "read",
      "get /users/{userId}/transactions": "read",
      "post /users/{userId}/consume": "spend",
      "post /users/{userId}/grants": "grant",
      "post /users/{userId}/holds": "holds",
      "post /holds/{holdId}/capture": "holds",
      "post /holds/{holdId}/release": "holds",
      "put /customers/{externalId}": "admin",
      "get /customers/{externalId}": "read",
      "get /customers/{externalId}/balance": "read",
      "get /customers/{externalId}/transactions": "read",
      "post /customers/{externalId}/consume": "spend",
      "post /customers/{externalId}/grants": "grant",
      "post /customers/{externalId}/holds": "holds",
      "put /users/{userId}/low-balance-threshold": "admin",
      "put /customers/{externalId}/low-balance-threshold": "admin",
      "post /webhook-endpoints": "admin",
      "get /webhook-endpoints": "admin",
      "delete /webhook-endpoints/{endpointId}": "admin",
      "get /webhook-endpoints/{endpointId}/deliveries": "admin",
      "post /webhook-deliveries/{deliveryId}/resend": "admin",
    };
    expect(Object.keys(scopes).sort()).toEqual(Object.keys(expected).sort());
    for (const [operationName, scope] of Object.entries(expected)) {
      const operation = scopes[operationName] as Operation;
      expect(operation["x-required-scope"], operationName).toBe(scope);
      expect(operation.security, operationName).toEqual([{ apiKey: [scope] }]);
      expect(operation.description, operationName).toContain(`\`${scope}\` scope`);
      const forbidden = operation.responses["403"];
      expect(forbidden, operationName).toBeDefined();
      expect(forbidden?.content?.["application/json"]?.schema.$ref).toBe(
        "#/components/schemas/InsufficientScopeError",
      );
    }
    expect(document.components.schemas.InsufficientScopeError).toBeDefined();
    // Every 403 the tests above received is documented for the operation that answered it.
    expect(observedAnswers.filter((answer) => answer.status === 403).length).toBeGreaterThan(0);
    expect(undocumentedAnswers(document as never, observedAnswers)).toEqual([]);
  });
});

describe("defineRoute", () => {
  it("refuses a route that checks API keys without naming its scope, and a scope on a route that checks none", () => {
    const handler = withApiKey(async () => new Response(null));
    expect(() => defineRoute({ method: "GET", path: "/api/v1/unscoped", handler })).toThrow(
      "must name its scope",
    );
    expect(() =>
      defineRoute({ method: "GET", path: "/api/v1/open", scope: "read", handler: () => new Response(null) }),
    ).toThrow("does not check API keys");
    expect(defineRoute({ method: "GET", path: "/api/v1/x", scope: "admin", handler }).handler).toBeTypeOf(
      "function",
    );
  });
});

describe("the CLI", { timeout: 240_000 }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-scopes-"));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("api-key create --scopes makes a key with those scopes, the default leaves out grant and admin, and list shows them", async () => {
    const env = { DATA_DIR: dataDir };
    const chosen = await runCli(["api-key", "create", "--name", "reader", "--scopes", "spend, read"], env);
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(chosen.stdout).toContain('created API key "reader"');
    expect(chosen.stdout).toContain("with scopes read,spend");

    const unknown = await runCli(["api-key", "create", "--name", "x", "--scopes", "read,root"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('--scopes: unknown scope "root"');

    const plain = await runCli(["api-key", "create", "--name", "plain"], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain("with scopes read,spend,holds");

    const list = await runCli(["api-key", "list"], env);
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines.find((line) => line.includes("  reader  "))).toContain("scopes read,spend ");
    expect(lines.find((line) => line.includes("  plain  "))).toContain("scopes read,spend,holds ");
    expect(lines.some((line) => line.includes("  x  "))).toBe(false);
  });
});

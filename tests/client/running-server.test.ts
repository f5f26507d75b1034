import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CreditkitClient,
  CreditkitError,
  createCreditkitClient,
} from "../../clients/typescript/src/index";
import { getBalance } from "../../src/credits/get-balance";
import { useDatabaseConnection } from "../../src/db/client";
import { createApiKey } from "../../src/service-api/api-keys";
import type { ApiScope } from "../../src/service-api/api-scopes";
import { type ApiServer, serveApi } from "../support/api-server";
import { assertLedgerInvariants } from "../support/invariants";
import { REPO_ROOT, runProcess } from "../support/processes";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// The typed client (clients/typescript) used as another backend uses it: the service API served over real
// HTTP on a free port, a fresh database, and nothing but the client's methods between them.
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const OPERATOR = { userId: null, label: "typed client tests" };

/** Awaits a call the test expects to fail, and returns its CreditkitError. */
async function apiError(call: Promise<unknown>): Promise<CreditkitError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(CreditkitError);
  return error as CreditkitError;
}

describe.each(databaseKinds())("the typed client against the running service API on %s", (kind) => {
  let database: TestDatabase;
  let server: ApiServer;
  let credits: CreditkitClient;

  async function clientWith(scopes?: readonly ApiScope[]): Promise<CreditkitClient> {
    const { key } = await createApiKey(database.db, `client-${randomUUID().slice(0, 8)}`, OPERATOR, scopes);
    return createCreditkitClient({ baseUrl: server.origin, apiKey: key });
  }

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    server = await serveApi();
    credits = await clientWith();
  });
  afterAll(async () => {
    await server?.close();
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  it("grants, spends and reads the balance and the ledger", async () => {
    const userId = await seedUser(database.db);
    const granted = await credits.grant(userId, { amount: 100, description: "welcome" });
    expect(granted).toMatchObject({ balance: 100, entryId: expect.any(String), lotId: expect.any(String) });
    const spent = await credits.consume(userId, {
      amount: 30,
      description: "report",
      metadata: { job: "j1" },
    });
    expect(spent.balance).toBe(70);
    expect(await credits.getBalance(userId)).toMatchObject({ balance: 70, held: 0, available: 70, debt: 0 });
    const page = await credits.listTransactions(userId, { limit: 10 });
    expect(page.items.map((item) => [item.type, item.amount, item.balanceAfter])).toEqual([
      ["consume", -30, 70],
      ["grant", 100, 100],
    ]);
    expect((await getBalance(database.db, userId)).balance).toBe(70);
  });

  it("answers a spend past the balance with a typed insufficient_credits error, and takes nothing", async () => {
    const userId = await seedUser(database.db);
    await credits.grant(userId, { amount: 40 });
    const error = await apiError(credits.consume(userId, { amount: 41 }));
    expect(error).toMatchObject({
      status: 402,
      code: "insufficient_credits",
      available: 40,
      retryable: false,
    });
    expect(error.message).toEqual(expect.any(String));
    expect(error.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect((await credits.getBalance(userId)).balance).toBe(40);
  });

  it("holds, captures part of a hold and releases another", async () => {
    const userId = await seedUser(database.db);
    await credits.grant(userId, { amount: 100 });
    const hold = await credits.createHold(userId, { amount: 50, ttlSeconds: 600 });
    expect(hold).toMatchObject({ holdId: expect.any(String), expiresAt: expect.any(String) });
    expect(await credits.getBalance(userId)).toMatchObject({ balance: 100, held: 50, available: 50 });
    // Holding more than is available is refused like a spend.
    const refused = await apiError(credits.createHold(userId, { amount: 51 }));
    expect(refused).toMatchObject({ status: 402, code: "insufficient_credits", available: 50 });

    const captured = await credits.captureHold(hold.holdId, { amount: 30 });
    expect(captured).toMatchObject({ balance: 70, entryId: expect.any(String) });
    expect(await credits.getBalance(userId)).toMatchObject({ balance: 70, held: 0, available: 70 });

    const second = await credits.createHold(userId, { amount: 20 });
    const released = await credits.releaseHold(second.holdId);
    expect(released).toEqual({ holdId: second.holdId, status: "released", balance: 70 });
    const closed = await apiError(credits.captureHold(second.holdId));
    expect(closed).toMatchObject({ status: 409, code: "hold_not_open" });
    expect(await credits.getBalance(userId)).toMatchObject({ balance: 70, held: 0, available: 70 });
  });

  it("gives a key without the grant scope a typed 403 naming the scope, and grants nothing", async () => {
    const userId = await seedUser(database.db);
    const metering = await clientWith(["read", "spend", "holds"]);
    const error = await apiError(metering.grant(userId, { amount: 10 }));
    expect(error).toMatchObject({ status: 403, code: "insufficient_scope", requiredScope: "grant" });
    expect((await metering.getBalance(userId)).balance).toBe(0);
  });

  it("answers an unknown key with a typed 401", async () => {
    const stranger = createCreditkitClient({ baseUrl: server.origin, apiKey: "ck_notakeyatall" });
    const error = await apiError(stranger.getBalance(await seedUser(database.db)));
    expect(error).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("returns the first answer to a call repeated with the same idempotency key, and applies it once", async () => {
    const userId = await seedUser(database.db);
    await credits.grant(userId, { amount: 100 });
    const idempotencyKey = `order-${randomUUID()}`;
    const first = await credits.consume(userId, { amount: 25 }, { idempotencyKey });
    const repeat = await credits.consume(userId, { amount: 25 }, { idempotencyKey });
    expect(repeat).toEqual(first);
    expect((await credits.getBalance(userId)).balance).toBe(75);
    // The same key for another request is a mistake the API names.
    const conflict = await apiError(credits.consume(userId, { amount: 26 }, { idempotencyKey }));
    expect(conflict).toMatchObject({ status: 409, code: "idempotency_conflict", idempotencyKey });
    // Without a key of the caller's, each call gets its own: two calls are two spends.
    const a = await credits.consume(userId, { amount: 5 });
    const b = await credits.consume(userId, { amount: 5 });
    expect(a.entryId).not.toBe(b.entryId);
    expect((await credits.getBalance(userId)).balance).toBe(65);
  });

  it("retries a spend whose answer was lost with the same key, so it is applied once", async () => {
    const userId = await seedUser(database.db);
    await credits.grant(userId, { amount: 100 });
    // A proxy that passes the first request to the server and then drops the connection before answering,
    // as a network failure after the server committed would.
    const seenKeys: (string | undefined)[] = [];
    const proxy = http.createServer(async (incoming, outgoing) => {
      const chunks: Buffer[] = [];
      for await (const chunk of incoming) chunks.push(chunk as Buffer);
      seenKeys.push(incoming.headers["idempotency-key"] as string | undefined);
      const answer = await fetch(`${server.origin}${incoming.url}`, {
        method: incoming.method,
        headers: Object.fromEntries(
          Object.entries(incoming.headers).filter(
            (entry): entry is [string, string] => typeof entry[1] === "string" && entry[0] !== "host",
          ),
        ),
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const text = await answer.text();
      if (seenKeys.length === 1) {
        incoming.socket.destroy();
        return;
      }
      outgoing.writeHead(answer.status, { "content-type": "application/json" }).end(text);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const { key } = await createApiKey(database.db, "through-proxy", OPERATOR);
      const viaProxy = createCreditkitClient({
        baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        apiKey: key,
      });
      const spent = await viaProxy.consume(userId, { amount: 10 });
      expect(seenKeys).toHaveLength(2);
      expect(seenKeys[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(seenKeys[1]).toBe(seenKeys[0]);
      expect(spent.balance).toBe(90);
      expect((await credits.getBalance(userId)).balance).toBe(90);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it("creates and updates a customer by external id, and reads it with its balance", async () => {
    const externalId = `acme|user:${randomUUID().slice(0, 8)}`;
    const created = await credits.customers.upsert(externalId, { email: "a@example.com", name: "Ada" });
    expect(created).toMatchObject({
      created: true,
      externalId,
      userId: expect.stringMatching(/^cus_/),
      email: "a@example.com",
      name: "Ada",
      metadata: {},
    });
    // The same PUT again changes nothing and says so; a field left out keeps its value, null clears it.
    const again = await credits.customers.upsert(externalId, { email: "a@example.com", name: "Ada" });
    expect(again).toEqual({ ...created, created: false });
    const updated = await credits.customers.upsert(externalId, { name: null, metadata: { tier: "pro" } });
    expect(updated).toMatchObject({
      created: false,
      email: "a@example.com",
      name: null,
      metadata: { tier: "pro" },
    });
    expect(await credits.customers.get(externalId)).toMatchObject({
      externalId,
      userId: created.userId,
      balance: { balance: 0, held: 0, available: 0, debt: 0 },
    });
    const missing = await apiError(credits.customers.get(`nobody-${randomUUID()}`));
    expect(missing).toMatchObject({ status: 404, code: "customer_not_found" });
  });

  it("grants, spends, holds and reads a customer's ledger by external id", async () => {
    const externalId = `cust-${randomUUID()}`;
    const { userId } = await credits.customers.upsert(externalId);
    const granted = await credits.customers.grant(externalId, { amount: 100, description: "welcome" });
    expect(granted).toMatchObject({ balance: 100, lotId: expect.any(String) });
    const idempotencyKey = `order-${randomUUID()}`;
    const spent = await credits.customers.consume(externalId, { amount: 30 }, { idempotencyKey });
    expect(await credits.customers.consume(externalId, { amount: 30 }, { idempotencyKey })).toEqual(spent);
    expect(spent.balance).toBe(70);
    const refused = await apiError(credits.customers.consume(externalId, { amount: 71 }));
    expect(refused).toMatchObject({ status: 402, code: "insufficient_credits", available: 70 });

    const hold = await credits.customers.createHold(externalId, { amount: 50, ttlSeconds: 600 });
    expect(await credits.customers.getBalance(externalId)).toMatchObject({
      balance: 70,
      held: 50,
      available: 20,
    });
    expect((await credits.captureHold(hold.holdId, { amount: 40 })).balance).toBe(30);

    const page = await credits.customers.listTransactions(externalId, { limit: 10 });
    expect(page.items.map((item) => [item.type, item.amount, item.balanceAfter])).toEqual([
      ["consume", -40, 30],
      ["consume", -30, 70],
      ["grant", 100, 100],
    ]);
    // The same account as the user routes and the ledger see.
    expect((await credits.getBalance(userId)).balance).toBe(30);
    expect((await getBalance(database.db, userId)).balance).toBe(30);
    // A customer that was never created is not made by a grant.
    const unknown = await apiError(credits.customers.grant(`nobody-${randomUUID()}`, { amount: 1 }));
    expect(unknown).toMatchObject({ status: 404, code: "customer_not_found" });
  });

  it("names the missing scope when a key may not manage customers or grant to them", async () => {
    const externalId = `cust-${randomUUID()}`;
    await credits.customers.upsert(externalId);
    const metering = await clientWith(["read", "spend", "holds"]);
    expect(await apiError(metering.customers.upsert(externalId, { name: "x" }))).toMatchObject({
      status: 403,
      code: "insufficient_scope",
      requiredScope: "admin",
    });
    expect(await apiError(metering.customers.grant(externalId, { amount: 5 }))).toMatchObject({
      status: 403,
      code: "insufficient_scope",
      requiredScope: "grant",
    });
    expect((await metering.customers.get(externalId)).balance.balance).toBe(0);
  });

  it("registers, lists and deletes a webhook endpoint, its secret in the creation's answer only", async () => {
    const endpoint = await credits.webhookEndpoints.create({
      url: "https://example.com/hooks/creditkit",
      eventTypes: ["credits.granted"],
    });
    expect(endpoint).toMatchObject({
      id: expect.any(String),
      enabled: true,
      secret: expect.stringMatching(/^whsec_/),
    });
    const listed = await credits.webhookEndpoints.list();
    const mine = listed.find((item) => item.id === endpoint.id);
    expect(mine).toMatchObject({ url: endpoint.url, eventTypes: ["credits.granted"] });
    expect(mine).not.toHaveProperty("secret");
    expect(await credits.webhookEndpoints.listDeliveries(endpoint.id)).toEqual([]);
    expect(await credits.webhookEndpoints.delete(endpoint.id)).toEqual({ id: endpoint.id, deleted: true });
    expect((await credits.webhookEndpoints.list()).map((item) => item.id)).not.toContain(endpoint.id);
    const gone = await apiError(credits.webhookEndpoints.delete(endpoint.id));
    expect(gone).toMatchObject({ status: 404, code: "not_found" });
  });

  it("reaches every operation of the document through `api`, typed, with the same errors", async () => {
    const userId = await seedUser(database.db);
    await credits.grant(userId, { amount: 12 });
    const { data } = await credits.api.GET("/users/{userId}/balance", { params: { path: { userId } } });
    expect(data?.available).toBe(12);
    const error = await apiError(
      credits.api.POST("/users/{userId}/consume", { params: { path: { userId } }, body: { amount: 13 } }),
    );
    expect(error).toMatchObject({ status: 402, code: "insufficient_credits", available: 12 });
  });
});

describe("the built package", () => {
  let database: TestDatabase;
  let server: ApiServer;

  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    server = await serveApi();
  });
  afterAll(async () => {
    await server?.close();
    await database?.close();
  });

  it("builds with tsc, and its quickstart example runs against the server through the package's exports", async () => {
    const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const build = await runProcess(process.execPath, [tsc, "-p", "clients/typescript"], {
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(build.code, `tsc -p clients/typescript failed:\n${build.stdout}${build.stderr}`).toBe(0);

    const { key } = await createApiKey(database.db, "quickstart", OPERATOR);
    const userId = await seedUser(database.db);
    const run = await runProcess(process.execPath, ["clients/typescript/examples/quickstart.mjs"], {
      env: {
        PATH: process.env.PATH ?? "",
        CREDITKIT_URL: server.origin,
        CREDITKIT_API_KEY: key,
        CREDITKIT_USER_ID: userId,
      },
    });
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).toContain("granted 100 credits: balance 100");
    expect(run.stdout).toMatch(/spent 10 credits: entry \d+, balance 90 \(repeat: same entry true\)/);
    expect(run.stdout).toContain("held 20 and captured 15: balance 75");
    expect(run.stdout).toContain("insufficient credits: 75 available");
    expect((await getBalance(database.db, userId)).balance).toBe(75);
  });
});

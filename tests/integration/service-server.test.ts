import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import path from "node:path";
import { getRequestListener } from "@hono/node-server";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { addCredits } from "../../src/credits/add-credits";
import { getBalance } from "../../src/credits/get-balance";
import { executePrepared, sqlRows } from "../../src/credits/sql-rows";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { routes } from "../../src/routes";
import { createApiApp, createNodeApiApp } from "../../src/server/api-app";
import { defineRoute, routeMethods } from "../../src/server/define-route";
import { classifyError } from "../../src/server/http-errors";
import { createApiKey } from "../../src/service-api/api-keys";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

// `npm start` answers every /api request with the app's routes (src/routes/) through Hono's Node.js adapter,
// beside Next.js (scripts/server.mjs). These tests drive that dispatch over real HTTP: the same listener and
// application, Next.js replaced by a stand-in that says it was asked.
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

const REPO_ROOT = process.cwd();
const OPERATOR = { userId: null, label: "service-server tests" };

/** Every route file under src/routes (index.ts lists them). */
function routeFiles(): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && full !== ROUTE_INDEX)
        found.push(full);
    }
  };
  visit(path.join(REPO_ROOT, "src", "routes"));
  return found.sort();
}
const ROUTE_INDEX = path.join(REPO_ROOT, "src", "routes", "index.ts");

describe("the route definitions", () => {
  it("lists every route file once, and no two routes claim one method and path", async () => {
    const files = routeFiles();
    expect(files.length).toBeGreaterThanOrEqual(19);
    const defined = await Promise.all(
      files.map(async (file) => (await import(file)).default as (typeof routes)[number]),
    );
    // A route file missing from the list would not be served at all.
    for (const [i, route] of defined.entries())
      expect(routes, `${path.relative(REPO_ROOT, files[i] ?? "")} is not in src/routes/index.ts`).toContain(
        route,
      );
    expect(routes).toHaveLength(files.length);
    const claims = routes.flatMap((route) => routeMethods(route).map((method) => `${method} ${route.path}`));
    expect(new Set(claims).size).toBe(claims.length);
  });

  it("answers a failure outside the route wrappers in the API's JSON error shape", async () => {
    const app = createApiApp([
      defineRoute({
        method: "GET",
        path: "/api/broken",
        handler: () => {
          throw new Error("the handler broke");
        },
      }),
    ]);
    const response = await app.fetch(new Request("http://localhost/api/broken"));
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: "internal_error" } });
  });

  it("is what Next.js serves /api with too", async () => {
    const nextRoute = await import("../../src/app/api/[...path]/route");
    const response = await nextRoute.GET(new Request("http://localhost/api/credits/packages"));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ packages: expect.any(Array) });
    const unknown = await nextRoute.POST(new Request("http://localhost/api/nothing", { method: "POST" }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "not_found" } });
  });
});

describe("client disconnects", () => {
  it("are not reported as a database outage", () => {
    const clientGone = Object.assign(new Error("aborted"), { code: "ECONNRESET" });
    expect(classifyError(clientGone)).toMatchObject({ status: 499, code: "client_closed_request" });
    const databaseGone = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(classifyError(databaseGone)).toMatchObject({ status: 503, code: "database_unavailable" });
  });
});

describe.each(databaseKinds())("the service API over HTTP beside Next.js on %s", (kind) => {
  let database: TestDatabase;
  let server: http.Server;
  let origin: string;
  let key: string;
  const fellThrough: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    key = (await createApiKey(database.db, "http-tests", OPERATOR)).key;
    const app = createNodeApiApp(routes);
    const handle = getRequestListener(app.fetch, { overrideGlobalObjects: false });
    server = http.createServer((incoming, outgoing) => {
      if (incoming.url?.startsWith("/api/")) handle(incoming, outgoing);
      else {
        fellThrough.push(`${incoming.method} ${incoming.url}`);
        outgoing.writeHead(418).end("next.js");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    if (database) await assertLedgerInvariants(database.db);
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await database?.close();
  });

  /** A service-API mutation; a string or stream body is sent as it is, anything else as JSON. */
  const post = (
    pathname: string,
    body: string | ReadableStream<Uint8Array> | object,
    idempotencyKey: string,
  ) =>
    fetch(`${origin}${pathname}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        "content-type": "application/json",
        "idempotency-key": idempotencyKey,
      },
      body: typeof body === "string" || body instanceof ReadableStream ? body : JSON.stringify(body),
      duplex: "half",
    } as RequestInit);
  const getBalanceOver = (userId: string) =>
    fetch(`${origin}/api/v1/users/${encodeURIComponent(userId)}/balance`, {
      headers: { authorization: `Bearer ${key}` },
    });
  const grant = (userId: string, amount: number) =>
    addCredits(database.db, { userId, amount, type: "grant", description: "t", idempotencyKey: "g1" });

  it("spends, replays a retried spend, and reads the balance", async () => {
    const userId = await seedUser(database.db);
    await grant(userId, 50);

    const first = await post(`/api/v1/users/${userId}/consume`, { amount: 20 }, "spend-1");
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/json");
    const firstText = await first.text();
    expect(first.headers.get("content-length")).toBe(String(Buffer.byteLength(firstText)));
    expect(JSON.parse(firstText)).toMatchObject({ balance: 30 });
    const retry = await post(`/api/v1/users/${userId}/consume`, { amount: 20 }, "spend-1");
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect((await getBalance(database.db, userId)).balance).toBe(30);

    const balance = await getBalanceOver(userId);
    expect(balance.status).toBe(200);
    expect(await balance.json()).toMatchObject({
      balance: 30,
      held: 0,
      available: 30,
      debt: 0,
      plan: { id: "free" },
    });
  });

  it("runs two versions of a prepared statement on one connection", async () => {
    // Two copies of the modules can meet on one pool with different text for one statement name
    // (a build older than the sources); PostgreSQL refuses a known name with new text.
    const values = await database.db.transaction(async (tx) => [
      sqlRows<{ v: number }>(await executePrepared(tx, "probe", sql`SELECT 1 AS v`))[0]?.v,
      sqlRows<{ v: number }>(await executePrepared(tx, "probe", sql`SELECT 2 AS v`))[0]?.v,
    ]);
    expect(values).toEqual([1, 2]);
  });

  it("decodes percent-encoded ids the way Next.js does", async () => {
    const userId = `ext user/é ${Date.now()}`;
    await database.db
      .insert(user)
      .values({ id: userId, name: "External", email: `${Date.now()}@example.test` });
    await grant(userId, 5);
    const balance = await getBalanceOver(userId);
    expect(balance.status).toBe(200);
    expect(await balance.json()).toMatchObject({ balance: 5 });
  });

  it("answers errors in the API's JSON shape", async () => {
    const userId = await seedUser(database.db);
    const noKey = await fetch(`${origin}/api/v1/users/${userId}/balance`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ error: { code: "unauthorized" } });
    const broke = await post(`/api/v1/users/${userId}/consume`, { amount: 1 }, "spend-broke");
    expect(broke.status).toBe(402);
    expect(await broke.json()).toMatchObject({ error: { code: "insufficient_credits" } });
    const badSignature = await fetch(`${origin}/api/webhooks/stripe`, {
      method: "POST",
      headers: { "stripe-signature": "t=1,v1=forged" },
      body: "{}",
    });
    expect(badSignature.status).toBe(400);
    const hugeWebhook = await fetch(`${origin}/api/webhooks/stripe`, {
      method: "POST",
      headers: { "stripe-signature": "t=1,v1=forged" },
      body: "x".repeat(2 * 1024 * 1024),
    });
    expect(hugeWebhook.status).toBe(413);
    const endlessWebhook = await fetch(`${origin}/api/webhooks/stripe`, {
      method: "POST",
      headers: { "stripe-signature": "t=1,v1=forged" },
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(64 * 1024).fill(120));
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(endlessWebhook.status).toBe(413);
  });

  it("reads a body sent with a length or in chunks, and refuses either past 16 kB", async () => {
    const userId = await seedUser(database.db);
    await grant(userId, 10);
    const chunked = (text: string) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < text.length; i += 1000)
            controller.enqueue(new TextEncoder().encode(text.slice(i, i + 1000)));
          controller.close();
        },
      });
    const send = (body: string | ReadableStream<Uint8Array>, idempotencyKey: string) =>
      post(`/api/v1/users/${userId}/consume`, body, idempotencyKey);
    const padded = JSON.stringify({ amount: 1, description: "x".repeat(400) });
    const tooLarge = JSON.stringify({ amount: 1, metadata: { note: "x".repeat(20_000) } });

    expect((await send(padded, "declared-ok")).status).toBe(200);
    expect((await send(chunked(padded), "chunked-ok")).status).toBe(200);
    const declaredTooLarge = await send(tooLarge, "declared-large");
    expect(declaredTooLarge.status).toBe(413);
    expect(await declaredTooLarge.json()).toMatchObject({ error: { code: "payload_too_large" } });
    const chunkedTooLarge = await send(chunked(tooLarge), "chunked-large");
    expect(chunkedTooLarge.status).toBe(413);
    expect((await getBalance(database.db, userId)).balance).toBe(8);
  });

  it("refuses text PostgreSQL cannot store over HTTP: a 4xx with a code, never retryable, nothing spent", async () => {
    const userId = await seedUser(database.db);
    await grant(userId, 10);
    const nonUtf8 = new Uint8Array([
      ...Buffer.from('{"amount":1,"description":"'),
      0xc3,
      0x28,
      ...Buffer.from('"}'),
    ]);
    const answers = [
      await post(`/api/v1/users/${userId}/consume`, { amount: 1, description: "a\u0000b" }, "nul-1"),
      await post(`/api/v1/users/${userId}/consume`, '{"amount":1,"metadata":{"k":"\\u0000"}}', "nul-2"),
      await post(`/api/v1/users/${userId}/consume`, '{"amount":1,"description":"\\udc00"}', "nul-3"),
      await post(
        `/api/v1/users/${userId}/consume`,
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(nonUtf8);
            controller.close();
          },
        }),
        "nul-4",
      ),
      await post(`/api/v1/users/${userId}%00/consume`, { amount: 1 }, "nul-5"),
      await post(`/api/v1/users/${userId}%00/grants`, { amount: 1 }, "nul-6"),
      await fetch(`${origin}/api/v1/users/${userId}/transactions?cursor=%00`, {
        headers: { authorization: `Bearer ${key}` },
      }),
      await getBalanceOver(`${userId}\u0000`),
    ];
    for (const answer of answers) {
      const body = (await answer.json()) as { error?: { code?: string; retryable?: boolean } };
      expect(answer.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(answer.status, JSON.stringify(body)).toBeLessThan(500);
      expect(body.error?.code).toMatch(/^(invalid_input|malformed_json|not_found)$/);
      expect(body.error?.retryable).toBeUndefined();
    }
    expect((await getBalance(database.db, userId)).balance).toBe(10);
  });

  it("never lets a NUL in a header reach a route: Node's HTTP parser refuses the request", async () => {
    const { port } = server.address() as AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end(
          "GET /api/v1/users/u1/balance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ck_a\u0000b\r\n\r\n",
        );
      });
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
      });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
  });

  it("answers unknown API paths 404 and other methods 405 itself, and hands pages to Next.js", async () => {
    fellThrough.length = 0;
    const unknownPath = await fetch(`${origin}/api/v1/users/u1/nothing-here`);
    expect(unknownPath.status).toBe(404);
    expect(await unknownPath.json()).toMatchObject({ error: { code: "not_found" } });
    const wrongMethod = await fetch(`${origin}/api/v1/users/u1/consume`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    const page = await fetch(`${origin}/en/settings/credits`);
    expect(await page.text()).toBe("next.js");
    expect(fellThrough).toEqual(["GET /en/settings/credits"]);
  });
});

describe("a failure thrown by the other copy of the modules, as under npm start", () => {
  // Next.js instantiates the modules once per layer (src/instrumentation.ts's copy serves /api under
  // npm start, the route handlers and pages have theirs); what is one per process (the database
  // connection, the rate limiters) lives in src/lib/process-registry.ts, so one copy throws errors of its
  // own classes into the other. vi.resetModules() gives the test two such copies. vi.resetModules() gives the test two such copies.
  let database: TestDatabase;
  let server: http.Server | undefined;
  const previousLimit = process.env.RATE_LIMIT_API_PER_MINUTE;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
  });
  afterAll(async () => {
    process.env.RATE_LIMIT_API_PER_MINUTE = previousLimit;
    vi.resetModules();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await database?.close();
  });

  it("a rate limit reached through limiters the other copy built answers 429 with Retry-After, not 500", async () => {
    process.env.RATE_LIMIT_API_PER_MINUTE = "1";
    vi.resetModules();
    // The copy that serves first (Next.js's, for a browser's purchase) builds the shared limiters.
    const firstCopy = await import("../../src/limits/rate-limit");
    (await import("../../src/db/client")).useDatabaseConnection(database);
    const userId = await seedUser(database.db);
    const { key, apiKey: created } = await createApiKey(database.db, "two-copies", OPERATOR);
    await firstCopy.limitApiKey(created.id);

    vi.resetModules();
    const serviceCopy = await import("../../src/server/api-app");
    const app = serviceCopy.createNodeApiApp((await import("../../src/routes")).routes);
    const handle = getRequestListener(app.fetch, { overrideGlobalObjects: false });
    server = http.createServer((incoming, outgoing) => handle(incoming, outgoing));
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const response = await fetch(`${origin}/api/v1/users/${userId}/balance`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({ error: { code: "rate_limited", retryable: true } });
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a configuration error from the other copy is still printed as the list of bad variables", async () => {
    vi.resetModules();
    const otherCopy = await import("../../src/config/env");
    vi.resetModules();
    const { startupFailureMessage } = await import("../../src/config/prepare-server");
    const message = startupFailureMessage(
      new otherCopy.ConfigurationError([{ variable: "LOG_LEVEL", message: "must be one of …" }]),
    );
    expect(message).toContain("the configuration is invalid");
    expect(message).toContain("  LOG_LEVEL: must be one of …");
  });
});

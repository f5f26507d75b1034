import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CreditkitConnectionError,
  CreditkitError,
  createCreditkitClient,
} from "../../clients/typescript/src/index";
import { parseRetryAfter } from "../../clients/typescript/src/transport";
import { closedPort } from "../support/net";

// The client's retries, against a small local HTTP server that answers what each test scripts (429, 503,
// a dropped connection...) and records every request it got, with the time it came.

type Seen = { method: string; url: string; idempotencyKey: string | undefined; body: string; at: number };
type Scripted = { status: number; headers?: Record<string, string>; body?: unknown } | "drop";

const OK: Scripted = { status: 200, body: { entryId: "7", balance: 90 } };
const seen: Seen[] = [];
let script: Scripted[] = [];
let server: http.Server;
let origin: string;

beforeAll(async () => {
  server = http.createServer(async (incoming, outgoing) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    seen.push({
      method: incoming.method ?? "",
      url: incoming.url ?? "",
      idempotencyKey: incoming.headers["idempotency-key"] as string | undefined,
      body: Buffer.concat(chunks).toString("utf8"),
      at: Date.now(),
    });
    const next = script.shift() ?? OK;
    if (next === "drop") {
      incoming.socket.destroy();
      return;
    }
    outgoing
      .writeHead(next.status, { "content-type": "application/json", ...next.headers })
      .end(JSON.stringify(next.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  script = [];
});

const rateLimited = (retryAfter: string) => ({
  status: 429,
  headers: { "retry-after": retryAfter },
  body: { error: { code: "rate_limited", message: "Too many requests.", retryable: true } },
});
const busy = {
  status: 503,
  headers: { "retry-after": "1" },
  body: { error: { code: "database_busy", message: "The database is busy.", retryable: true } },
};

function client(options: { maxRetries?: number; maxRetryDelayMs?: number } = {}) {
  return createCreditkitClient({ baseUrl: origin, apiKey: "ck_test", ...options });
}

describe("retries", () => {
  it("retries a 429 after its Retry-After seconds, with the same Idempotency-Key and body", async () => {
    script = [rateLimited("1"), OK];
    const started = Date.now();
    const spent = await client().consume("user-1", { amount: 10, description: "retry me" });
    expect(spent).toEqual({ entryId: "7", balance: 90 });
    expect(seen).toHaveLength(2);
    const [first, second] = seen as [Seen, Seen];
    // Honoured, not merely delayed: the retry came no sooner than the second the server asked for.
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(first.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.idempotencyKey).toBe(first.idempotencyKey);
    expect(second.body).toBe(first.body);
    expect(JSON.parse(first.body)).toEqual({ amount: 10, description: "retry me" });
    expect(first.url).toBe("/api/v1/users/user-1/consume");
  });

  it("reads a Retry-After given as an HTTP date", async () => {
    script = [rateLimited(new Date(Date.now() + 2_000).toUTCString()), OK];
    await client().getBalance("user-1");
    const [first, second] = seen as [Seen, Seen];
    // A date has whole seconds: at least a second after the first answer, whatever the rounding.
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
    expect(parseRetryAfter("Wed, 21 Oct 2026 07:28:10 GMT", Date.parse("2026-10-21T07:28:00Z"))).toBe(10_000);
    expect(parseRetryAfter("120")).toBe(120_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("retries a 503 with the caller's own Idempotency-Key", async () => {
    script = [busy, OK];
    await client().grant("user-1", { amount: 5 }, { idempotencyKey: "grant-order-42" });
    expect(seen.map((request) => request.idempotencyKey)).toEqual(["grant-order-42", "grant-order-42"]);
  });

  it("retries a request that got no answer, with the same key", async () => {
    script = ["drop", OK];
    await client().createHold("user-1", { amount: 5 });
    expect(seen).toHaveLength(2);
    expect(seen[1]?.idempotencyKey).toBe(seen[0]?.idempotencyKey);
  });

  it("gives up after maxRetries with a typed, retryable error carrying the key and Retry-After", async () => {
    script = [rateLimited("0"), rateLimited("0"), rateLimited("0")];
    const error = await client({ maxRetries: 2 })
      .consume("user-1", { amount: 1 })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(CreditkitError);
    expect(error).toMatchObject({
      status: 429,
      code: "rate_limited",
      retryable: true,
      retryAfterSeconds: 0,
      idempotencyKey: seen[0]?.idempotencyKey,
    });
    expect(seen).toHaveLength(3);
  });

  it("does not wait past its cap: a longer Retry-After is thrown at once", async () => {
    script = [rateLimited("120")];
    const started = Date.now();
    const error = await client({ maxRetryDelayMs: 5_000 })
      .getBalance("user-1")
      .catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ status: 429, retryAfterSeconds: 120 });
    expect(seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("does not retry answers that would fail the same way again", async () => {
    for (const status of [400, 402, 409, 500]) {
      seen.length = 0;
      script = [{ status, body: { error: { code: `code_${status}`, message: "no" } } }];
      const error = await client()
        .consume("user-1", { amount: 1 })
        .catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ status, code: `code_${status}`, retryable: false });
      expect(seen).toHaveLength(1);
    }
  });

  it("throws a connection error naming the key when nothing answers", async () => {
    const nobody = createCreditkitClient({
      baseUrl: `http://127.0.0.1:${await closedPort()}`,
      apiKey: "ck_test",
      maxRetries: 1,
    });
    const error = await nobody
      .consume("user-1", { amount: 1 }, { idempotencyKey: "spend-1" })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(CreditkitConnectionError);
    expect(error).toMatchObject({ idempotencyKey: "spend-1" });
  });

  it("stops retrying when the caller aborts", async () => {
    script = [rateLimited("1"), OK];
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 200);
    const error = await client()
      .getBalance("user-1", { signal: controller.signal })
      .catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ message: "caller gave up" });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(seen).toHaveLength(1);
  });

  it("sends the API key as a bearer token, and an Idempotency-Key on mutations only", async () => {
    const headers: Record<string, string | undefined>[] = [];
    const recording = createCreditkitClient({
      baseUrl: `${origin}/api/v1/`,
      apiKey: "ck_secret",
      fetch: async (input, init) => {
        const sent = new Headers(init?.headers);
        headers.push({
          authorization: sent.get("authorization") ?? undefined,
          key: sent.get("idempotency-key") ?? undefined,
        });
        return fetch(input, init);
      },
    });
    await recording.getBalance("u");
    await recording.releaseHold("h");
    expect(headers).toEqual([
      { authorization: "Bearer ck_secret", key: undefined },
      { authorization: "Bearer ck_secret", key: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    ]);
    // A base URL that already names /api/v1 is not given it twice.
    expect(seen.map((request) => `${request.method} ${request.url}`)).toEqual([
      "GET /api/v1/users/u/balance",
      "POST /api/v1/holds/h/release",
    ]);
  });
});

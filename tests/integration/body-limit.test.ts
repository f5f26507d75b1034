import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createApiApp, createNodeApiApp } from "../../src/server/api-app";
import { defineRoute } from "../../src/server/define-route";
import { classifyError } from "../../src/server/http-errors";

// Every route's body is bounded before its handler runs, by the limit its definition states (16 KiB unless
// it says otherwise), under both hosts: the Node.js adapter of `npm start` over real HTTP, and the app's
// fetch as Next.js's catch-all calls it.

/** What the handlers were given, in bytes; a refused body must never reach one. */
const received: number[] = [];

async function countBytes(request: Request): Promise<Response> {
  const bytes = (await request.arrayBuffer()).byteLength;
  received.push(bytes);
  return Response.json({ bytes });
}

const routes = [
  defineRoute({ method: "POST", path: "/api/test/small", maxBodyBytes: 100, handler: countBytes }),
  defineRoute({ method: "POST", path: "/api/test/default", handler: countBytes }),
  defineRoute({
    method: "POST",
    path: "/api/test/own-shape",
    maxBodyBytes: 10,
    answerError: (error) => {
      const { status, code } = classifyError(error);
      return Response.json({ refused: code }, { status });
    },
    handler: countBytes,
  }),
];

/** A body sent in chunks of at most `chunk` bytes without a Content-Length (Transfer-Encoding: chunked). */
function chunked(bytes: number, chunk = 30): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const size = Math.min(chunk, bytes - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

/** A body that never ends; `pulls()` says how many chunks the server has asked for. */
function endless() {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls += 1;
      controller.enqueue(new Uint8Array(1024).fill(120));
    },
  });
  return { stream, pulls: () => pulls };
}

type Send = (
  path: string,
  body: string | ReadableStream<Uint8Array>,
  headers?: Record<string, string>,
) => Promise<Response>;

const fetchApp = createApiApp(routes);
let server: http.Server;
let origin: string;

beforeAll(async () => {
  const handle = getRequestListener(createNodeApiApp(routes).fetch, { overrideGlobalObjects: false });
  server = http.createServer((incoming, outgoing) => handle(incoming, outgoing));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});
afterEach(() => {
  received.length = 0;
  vi.restoreAllMocks();
});

/**
 * Each host, how it sends, and how many 1 KiB chunks of an endless body may be taken from the sender at
 * most. Over HTTP, after the 413 the Node.js adapter discards what is still arriving for up to half a
 * second (64 MiB at most) and then closes the connection (@hono/node-server's drain), so a keep-alive
 * client is not cut off mid-send; nothing of it is kept. In process, reading stops at the limit.
 */
const hosts: [string, () => Send, number][] = [
  [
    "the Node.js adapter over HTTP",
    () => (path, body, headers) =>
      fetch(`${origin}${path}`, { method: "POST", body, headers, duplex: "half" } as RequestInit),
    64 * 1024,
  ],
  [
    "the app's fetch (Next.js's catch-all)",
    () => async (path, body, headers) => {
      // A Request made here declares no length unless told: fetch adds Content-Length on the wire only.
      const declared = typeof body === "string" ? { "content-length": String(Buffer.byteLength(body)) } : {};
      return fetchApp.fetch(
        new Request(`http://localhost${path}`, {
          method: "POST",
          body,
          headers: { ...declared, ...headers },
          duplex: "half",
        } as RequestInit),
      );
    },
    100,
  ],
];

/** Whether `count()` stops changing (checked every 300 ms, for at most 3 s). */
async function stopsGrowing(count: () => number): Promise<boolean> {
  for (let last = count(), tries = 0; tries < 10; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (count() === last) return true;
    last = count();
  }
  return false;
}

describe.each(hosts)("a route's body limit under %s", (_host, sender, maxChunksRead) => {
  const send: Send = (...args) => sender()(...args);

  it("takes a body of declared length up to the route's limit and refuses one byte more with 413", async () => {
    const taken = await send("/api/test/small", "x".repeat(100));
    expect(taken.status).toBe(200);
    expect(await taken.json()).toEqual({ bytes: 100 });

    const refused = await send("/api/test/small", "x".repeat(101));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({
      error: { code: "payload_too_large", message: "The body is larger than 100 bytes." },
    });
    expect(received).toEqual([100]);
  });

  it("takes a chunked body up to the route's limit, whole, and refuses one byte more with 413", async () => {
    const taken = await send("/api/test/small", chunked(100));
    expect(taken.status).toBe(200);
    expect(await taken.json()).toEqual({ bytes: 100 });

    const refused = await send("/api/test/small", chunked(101));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ error: { code: "payload_too_large" } });
    expect(received).toEqual([100]);
  });

  it("cuts an endless chunked body off after the limit: the sender is no longer read from", async () => {
    const body = endless();
    const refused = await send("/api/test/small", body.stream);
    expect(refused.status).toBe(413);
    expect(await refused.json()).toMatchObject({ error: { code: "payload_too_large" } });
    expect(received).toEqual([]);
    expect(await stopsGrowing(body.pulls)).toBe(true);
    expect(body.pulls()).toBeLessThan(maxChunksRead);
  });

  it("defaults to 16 KiB for a route that states no limit", async () => {
    expect((await send("/api/test/default", "x".repeat(16 * 1024))).status).toBe(200);
    expect((await send("/api/test/default", chunked(16 * 1024, 1000))).status).toBe(200);
    const declared = await send("/api/test/default", "x".repeat(16 * 1024 + 1));
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({
      error: { code: "payload_too_large", message: "The body is larger than 16384 bytes." },
    });
    expect((await send("/api/test/default", chunked(16 * 1024 + 1, 1000))).status).toBe(413);
    expect(received).toEqual([16 * 1024, 16 * 1024]);
  });

  it("answers in the route's own error shape when it has one", async () => {
    const refused = await send("/api/test/own-shape", "x".repeat(11));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ refused: "payload_too_large" });
    const chunkedRefused = await send("/api/test/own-shape", chunked(11, 4));
    expect(chunkedRefused.status).toBe(413);
    expect(await chunkedRefused.json()).toEqual({ refused: "payload_too_large" });
    expect(received).toEqual([]);
  });
});

describe("the Node.js adapter", () => {
  it("hands a body of declared length to the handler without wrapping the socket in a web stream", async () => {
    // Building a web stream for the body costs more than the rest of a spend's request handling
    // (BENCHMARKS.md): a declared length is judged by its header, and the handler reads the bytes in one go.
    const toWeb = vi.spyOn(Readable, "toWeb");
    const declared = await fetch(`${origin}/api/test/small`, { method: "POST", body: "x".repeat(50) });
    expect(await declared.json()).toEqual({ bytes: 50 });
    expect(toWeb).not.toHaveBeenCalled();

    // The spy sees the stream a body without a length is read through.
    const streamed = await fetch(`${origin}/api/test/small`, {
      method: "POST",
      body: chunked(50),
      duplex: "half",
    } as RequestInit);
    expect(await streamed.json()).toEqual({ bytes: 50 });
    expect(toWeb).toHaveBeenCalled();
  });
});

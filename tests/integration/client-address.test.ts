import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { useDatabaseConnection } from "../../src/db/client";
import {
  CLIENT_ADDRESS_HEADER,
  clientAddress,
  createClientAddressStamp,
  parseTrustProxy,
} from "../../src/lib/client-address";
import { APP_ORIGIN, appRequest } from "../support/app-requests";
import { authPost } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

// Better Auth's limiter runs in production only (src/auth/auth.ts), and Better Auth reads NODE_ENV once
// as it loads: this file runs as production from before its imports. Sign-up: 20 per address per minute.
vi.hoisted(() => {
  Object.assign(process.env, { NODE_ENV: "production" });
  // Vitest sets TEST, which Better Auth also takes for a test run (and then invents 127.0.0.1 as the address).
  delete process.env.TEST;
  process.env.LOG_LEVEL ??= "silent";
});
const SIGN_UP_LIMIT = 20;
const serverEnv = configureServerEnv({ SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

/** A different, made-up client address each time: what a client rotating X-Forwarded-For sends. */
let madeUp = 0;
const madeUpAddress = () => `203.0.${Math.floor(++madeUp / 250)}.${(madeUp % 250) + 1}`;

function signUpBody() {
  return JSON.stringify({
    email: `limit-${randomUUID()}@example.test`,
    password: "correct horse battery",
    name: "Limit",
  });
}

/**
 * The Node.js server of `npm start` in miniature: the same stamp as scripts/server.mjs, then the auth
 * route handler. Requests arrive over a real socket from 127.0.0.1.
 */
async function startServer(trustProxy: string | undefined) {
  const stamp = createClientAddressStamp(trustProxy);
  const listener = getRequestListener((request) => authPost(request), { overrideGlobalObjects: false });
  const server = http.createServer((incoming, outgoing) => {
    stamp(incoming);
    void listener(incoming, outgoing);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    signUp: async (headers: Record<string, string>) =>
      (
        await fetch(`http://127.0.0.1:${port}/api/auth/sign-up/email`, {
          method: "POST",
          // As a browser on the app's page sends it (Better Auth checks the Origin in production).
          headers: { "content-type": "application/json", origin: APP_ORIGIN, ...headers },
          body: signUpBody(),
        })
      ).status,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// 25 sign-ups per test, each hashing a password: seconds apiece on a busy machine.
describe("forwarded-for headers are trusted only behind a configured proxy", { timeout: 180_000 }, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
    resetAuth();
  });
  afterAll(async () => {
    await database?.close();
  });

  it("TRUST_PROXY is a hop count or a list of proxies; anything else is refused with its name", () => {
    expect(parseTrustProxy(undefined)("10.0.0.1", 0)).toBe(false);
    expect(parseTrustProxy("1")("10.0.0.1", 0)).toBe(true);
    expect(parseTrustProxy("1")("10.0.0.1", 1)).toBe(false);
    expect(parseTrustProxy("10.0.0.0/8, 192.0.2.1")("10.1.2.3", 5)).toBe(true);
    expect(parseTrustProxy("10.0.0.0/8, 192.0.2.1")("192.0.2.2", 0)).toBe(false);
    expect(() => parseTrustProxy("yes please")).toThrow(/TRUST_PROXY/);
  });

  // Before any stamp exists in this process: `next start` / `next dev`, where the socket is out of sight.
  it("next start: without TRUST_PROXY, made-up X-Forwarded-For values share one limit", async () => {
    expect(clientAddress(new Headers({ "x-forwarded-for": "203.0.113.5" }), undefined)).toBeNull();
    expect(clientAddress(new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.5" }), "1")).toBe(
      "203.0.113.5",
    );
    expect(
      clientAddress(new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.5, 10.0.0.2" }), "10.0.0.0/8"),
    ).toBe("203.0.113.5");

    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const response = await authPost(
        new Request(appRequest("/api/auth/sign-up/email"), {
          method: "POST",
          headers: {
            "content-type": "application/json",
            origin: APP_ORIGIN,
            "x-forwarded-for": madeUpAddress(),
            [CLIENT_ADDRESS_HEADER]: `192.0.2.${i + 1}`,
          },
          body: signUpBody(),
        }),
      );
      statuses.push(response.status);
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(SIGN_UP_LIMIT);
    expect(statuses.slice(SIGN_UP_LIMIT)).toEqual([429, 429, 429, 429, 429]);
  });

  it("npm start without TRUST_PROXY: 25 sign-ups with made-up forwarded addresses are limited by the socket's address", async () => {
    const server = await startServer(undefined);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        statuses.push(
          await server.signUp({
            "x-forwarded-for": madeUpAddress(),
            "x-real-ip": `192.0.2.${i + 1}`,
            [CLIENT_ADDRESS_HEADER]: `192.0.2.${i + 1}`,
          }),
        );
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(SIGN_UP_LIMIT);
      expect(statuses.slice(SIGN_UP_LIMIT)).toEqual([429, 429, 429, 429, 429]);
    } finally {
      await server.close();
    }
  });

  it("npm start with TRUST_PROXY=1: the address the proxy appended is the client, whatever came before it", async () => {
    const server = await startServer("1");
    try {
      // One client behind the proxy, forging the start of the chain on every request.
      const one: number[] = [];
      for (let i = 0; i < 22; i++)
        one.push(await server.signUp({ "x-forwarded-for": `${madeUpAddress()}, 198.51.100.77` }));
      expect(one.filter((status) => status === 200)).toHaveLength(SIGN_UP_LIMIT);
      expect(one.slice(SIGN_UP_LIMIT)).toEqual([429, 429]);

      // Many clients behind the same proxy: each has its own limit.
      for (let i = 1; i <= 5; i++)
        expect(await server.signUp({ "x-forwarded-for": `198.51.100.${i}` })).toBe(200);
    } finally {
      await server.close();
    }
  });
});

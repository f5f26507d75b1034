import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetAuth } from "../../src/auth/session";
import { addCredits } from "../../src/credits/add-credits";
import { getBalance } from "../../src/credits/get-balance";
import { findUnstorableText } from "../../src/credits/schemas";
import { useDatabaseConnection } from "../../src/db/client";
import { user } from "../../src/db/schema";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import {
  APP_ORIGIN,
  appRequest,
  readJson,
  routeContext,
  type SignedUpUser,
  signUp,
} from "../support/app-requests";
import { authPost, generateImagePost, transactionsGet } from "../support/route-handlers";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * Input bounds at the entry points a review found open: Better Auth's routes (body size, form bodies),
 * query-string integers, and the metered feature's request id.
 */
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "0" });
afterAll(() => serverEnv.cleanup());

const NUL = "\u0000";

describe.each(databaseKinds())("input bounds on %s", (kind) => {
  let database: TestDatabase;
  let alice: SignedUpUser;
  let apiKey: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
    resetAuth();
    alice = await signUp(`bounds-${kind}@example.test`);
    await addCredits(database.db, {
      userId: alice.id,
      amount: 100,
      type: "grant",
      description: "seed",
      idempotencyKey: "seed",
    });
    apiKey = (await createApiKey(database.db, "bounds", { userId: null, label: "test" })).key;
  });
  afterAll(async () => {
    await database?.close();
  });

  const usersNamed = async (email: string) =>
    database.db.select({ id: user.id }).from(user).where(eq(user.email, email));

  describe("the auth routes", () => {
    it("refuse a body over 16 kB with 413, with a declared length or chunked", async () => {
      const email = `big-${kind}@example.test`;
      const json = JSON.stringify({ email, password: "correct horse battery", name: "x".repeat(100_000) });
      const declared = await authPost(
        appRequest("/api/auth/sign-up/email", { body: json, contentType: "application/json" }),
      );
      expect(declared.status).toBe(413);
      expect(await declared.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });

      // No Content-Length: the body is cut off as soon as it passes the limit, never read whole.
      let sent = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += 1;
          if (sent > 10_000) controller.close();
          else controller.enqueue(new TextEncoder().encode(`${"x".repeat(1024)}`));
        },
      });
      const chunked = await authPost(
        new Request(new URL("/api/auth/sign-up/email", APP_ORIGIN), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: endless,
          duplex: "half",
        } as RequestInit),
      );
      expect(chunked.status).toBe(413);
      expect(sent).toBeLessThan(100);
      expect(await usersNamed(email)).toHaveLength(0);
    });

    it("check form bodies for text PostgreSQL cannot store, and still take good ones", async () => {
      const email = `form-${kind}@example.test`;
      const form = (name: string) =>
        new URLSearchParams({ email, password: "correct horse battery", name }).toString();
      const refused = await authPost(
        appRequest("/api/auth/sign-up/email", {
          body: form(`Mallory${NUL}`),
          contentType: "application/x-www-form-urlencoded",
        }),
      );
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({
        code: "INVALID_INPUT",
        message: expect.stringMatching(/^name/),
      });
      expect(await usersNamed(email)).toHaveLength(0);

      const multipart = new FormData();
      multipart.set("email", email);
      multipart.set("password", "correct horse battery");
      multipart.set("name", `Mallory${NUL}`);
      const refusedMultipart = await authPost(
        new Request(new URL("/api/auth/sign-up/email", APP_ORIGIN), { method: "POST", body: multipart }),
      );
      expect(refusedMultipart.status).toBe(400);

      // The body read for the check is handed on intact: a good form sign-up still works.
      const accepted = await authPost(
        appRequest("/api/auth/sign-up/email", {
          body: form("Mallory"),
          contentType: "application/x-www-form-urlencoded",
        }),
      );
      expect(accepted.status).toBe(200);
      expect(await usersNamed(email)).toHaveLength(1);
    });

    it("hand a body they read on intact, and an empty one as none (sign-in, then sign-out)", async () => {
      const signIn = await authPost(
        appRequest("/api/auth/sign-in/email", {
          json: { email: `bounds-${kind}@example.test`, password: "correct horse battery" },
        }),
      );
      expect(signIn.status).toBe(200);
      const cookie = signIn.headers
        .getSetCookie()
        .map((header) => header.split(";")[0])
        .join("; ");
      const signOut = await authPost(
        new Request(new URL("/api/auth/sign-out", APP_ORIGIN), {
          method: "POST",
          headers: { cookie },
          body: "",
        }),
      );
      expect(signOut.status).toBe(200);
    });

    it("check deeply nested bodies in linear time", () => {
      // 128 kB of nested arrays: 64,000 levels. Copying the path at every level took 40 s of CPU.
      const deep = JSON.parse(`${"[".repeat(64_000)}"\\u0000"${"]".repeat(64_000)}`);
      const started = performance.now();
      const path = findUnstorableText(deep);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(path).toHaveLength(64_000);
      expect(path?.every((segment) => segment === 0)).toBe(true);
    });
  });

  describe("query-string integers", () => {
    const notDecimal = ["1e2", " 10", "0x10", "10.0", "+5", "", "0", "101", "99999999999999999999"];

    it.each(notDecimal)("?limit=%j is a 400 on the app's history and the service API's", async (limit) => {
      const query = `limit=${encodeURIComponent(limit)}`;
      const app = await readJson<{ error: { code: string; message: string } }>(
        await transactionsGet(
          appRequest(`/api/credits/transactions?${query}`, { cookie: alice.cookie }),
          routeContext({}),
        ),
      );
      expect(app.status).toBe(400);
      expect(app.body.error).toMatchObject({
        code: "invalid_input",
        message: expect.stringMatching(/^limit: /),
      });
      const service = await v1.transactions(alice.id, { key: apiKey, query });
      expect(service.status).toBe(400);
      expect(service.body.error?.code).toBe("invalid_input");
    });

    it("take plain decimal digits in range", async () => {
      const app = await transactionsGet(
        appRequest("/api/credits/transactions?limit=100", { cookie: alice.cookie }),
        routeContext({}),
      );
      expect(app.status).toBe(200);
      const service = await v1.transactions(alice.id, { key: apiKey, query: "limit=1" });
      expect(service.status).toBe(200);
      expect(service.body.items).toHaveLength(1);
    });
  });

  it("answers a generate-image request id reused for another prompt with 409, charged once", async () => {
    const requestId = randomUUID();
    const generate = (prompt: string) =>
      generateImagePost(
        appRequest("/api/features/generate-image", { cookie: alice.cookie, json: { prompt, requestId } }),
        routeContext({}),
      );
    const before = await getBalance(database.db, alice.id);
    const first = await readJson<{ svg: string; balance: number }>(await generate("a red fox"));
    expect(first.status).toBe(200);
    const other = await readJson<{ error: { code: string; retryable?: boolean } }>(
      await generate("a blue whale"),
    );
    expect(other.status).toBe(409);
    expect(other.body.error).toEqual(expect.objectContaining({ code: "idempotency_conflict" }));
    expect(other.body.error.retryable).toBeUndefined();
    const replay = await readJson<{ svg: string; balance: number }>(await generate("a red fox"));
    expect(replay).toMatchObject({ status: 200, body: { svg: first.body.svg, balance: first.body.balance } });
    expect((await getBalance(database.db, alice.id)).balance).toBe(before.balance - 5);
  });
});

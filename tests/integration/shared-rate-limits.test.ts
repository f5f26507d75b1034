import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createAuth } from "../../src/auth/auth";
import { connectDatabase, type DatabaseConnection } from "../../src/db/connect";
import { rateLimit } from "../../src/db/schema";
import { CLIENT_ADDRESS_HEADER } from "../../src/lib/client-address";
import { createRateLimiter, RateLimitedError, type RateLimiter } from "../../src/limits/rate-limit";
import { APP_ORIGIN } from "../support/app-requests";
import { testDatabaseUrl } from "../support/paths";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

// Better Auth's limiter runs in production only and Better Auth reads NODE_ENV as it loads (see
// client-address.test.ts): this file runs as production from before its imports.
vi.hoisted(() => {
  Object.assign(process.env, { NODE_ENV: "production" });
  delete process.env.TEST;
  process.env.LOG_LEVEL ??= "silent";
});
const serverEnv = configureServerEnv({ SIGNUP_GIFT_CREDITS: "0" });
afterAll(() => serverEnv.cleanup());

/** Calls `take` `count` times, `concurrency` at a time; counts what was allowed and what was limited. */
async function hammer(limiter: RateLimiter, key: string, count: number, concurrency: number) {
  let allowed = 0;
  let limited = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        try {
          await limiter.take(key);
          allowed += 1;
        } catch (error) {
          if (!(error instanceof RateLimitedError)) throw error;
          limited += 1;
        }
      }
    }),
  );
  return { allowed, limited };
}

/** Two app instances: each its own connection pool to one PostgreSQL database, nothing shared in memory. */
describe.skipIf(!testDatabaseUrl())(
  "limits shared by app instances on one PostgreSQL database",
  { timeout: 180_000 },
  () => {
    let database: TestDatabase;
    let first: DatabaseConnection;
    let second: DatabaseConnection;
    beforeAll(async () => {
      database = await createTestDatabase("postgres");
      const url = database.url as string;
      first = await connectDatabase({ kind: "postgres", url, migrate: false, poolSize: 5 });
      second = await connectDatabase({ kind: "postgres", url, migrate: false, poolSize: 5 });
    });
    afterAll(async () => {
      await first?.close();
      await second?.close();
      await database?.close();
    });

    it("a purchase-sized limit (10 a minute) holds across two instances, request by request", async () => {
      const limit = { keyPrefix: `purchases-${randomUUID()}`, points: 10, duration: 60 };
      const [a, b] = await Promise.all([
        hammer(createRateLimiter(first, limit), "user-1", 15, 5),
        hammer(createRateLimiter(second, limit), "user-1", 15, 5),
      ]);
      expect(a.allowed + b.allowed).toBe(10);
      expect(a.limited + b.limited).toBe(20);
      // Another key has a budget of its own.
      expect((await hammer(createRateLimiter(first, limit), "user-2", 3, 1)).allowed).toBe(3);
    });

    it("an API-sized limit, taken in blocks, never allows more than the limit across two instances", async () => {
      const limit = { keyPrefix: `api-${randomUUID()}`, points: 3000, duration: 60 };
      const [a, b] = await Promise.all([
        hammer(createRateLimiter(first, limit), "key-1", 2000, 20),
        hammer(createRateLimiter(second, limit), "key-1", 2000, 20),
      ]);
      // Each instance kept asking until it was refused, so nothing taken was left unused.
      expect(a.allowed + b.allowed).toBe(3000);
      expect(a.allowed).toBeGreaterThan(0);
      expect(b.allowed).toBeGreaterThan(0);
    });

    it("Better Auth's sign-up limit (20 a minute per address) holds across two instances", async () => {
      const instances = [createAuth(first.db, "postgres"), createAuth(second.db, "postgres")];
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        const auth = instances[i % 2] as ReturnType<typeof createAuth>;
        const response = await auth.handler(
          new Request(`${APP_ORIGIN}/api/auth/sign-up/email`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              origin: APP_ORIGIN,
              // As scripts/server.mjs writes it from the socket.
              [CLIENT_ADDRESS_HEADER]: "198.51.100.23",
            },
            body: JSON.stringify({
              email: `shared-${randomUUID()}@example.test`,
              password: "correct horse battery",
              name: "Shared",
            }),
          }),
        );
        statuses.push(response.status);
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(20);
      expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429]);
      const [row] = await database.db
        .select()
        .from(rateLimit)
        .where(eq(rateLimit.key, "198.51.100.23|/sign-up/email"));
      expect(row?.count).toBe(20);
    });
  },
);

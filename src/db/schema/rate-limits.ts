import { bigint, integer, pgTable, text } from "drizzle-orm/pg-core";

/**
 * The app's own limits on PostgreSQL (purchases per user, service-API calls per key), shared by every app
 * instance: rate-limiter-flexible's RateLimiterPostgres table, in the column order its statements assume
 * (key, points, expire). `expire` is epoch milliseconds; expired rows are deleted by the limiter.
 */
export const rateLimitPoints = pgTable("rate_limit_points", {
  key: text().primaryKey(),
  points: integer().notNull().default(0),
  expire: bigint({ mode: "number" }),
});

/**
 * Better Auth's limiter (sign-up, sign-in, …) on PostgreSQL (`rateLimit.storage: "database"`): one row per
 * client address and path. `lastRequest` is epoch milliseconds. The key is unique: Better Auth relies on
 * a failed insert to notice a concurrent first request.
 */
export const rateLimit = pgTable("rate_limit", {
  id: text().primaryKey(),
  key: text().notNull().unique(),
  count: integer().notNull(),
  lastRequest: bigint({ mode: "number" }).notNull(),
});

import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Keys for the service API. Only a SHA-256 of the key is stored (keys are long random strings, so a fast
 * hash is enough); the key itself is shown once, when it is created.
 */
export const apiKey = pgTable(
  "api_key",
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    /** The first characters of the key, to recognise it in lists without storing it. */
    prefix: text().notNull(),
    keyHash: text().notNull().unique(),
    createdBy: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
    /**
     * What the key may do (src/service-api/api-scopes.ts). The app always writes the operator's choice; the
     * default, every scope, is what keys made before scopes existed got when this column was added, so they
     * keep the full access they had (and so does a key written by an older app during a rolling upgrade).
     */
    scopes: text().array().notNull().default(sql`ARRAY['read', 'spend', 'grant', 'holds', 'admin']::text[]`),
  },
  (t) => [index("api_key_active_idx").on(t.keyHash).where(sql`${t.revokedAt} IS NULL`)],
);

/**
 * Responses to service-API mutations, by API key and Idempotency-Key. The row is written in the same
 * transaction as the mutation, so a retry either finds the committed response or waits for it.
 */
export const apiIdempotency = pgTable(
  "api_idempotency",
  {
    apiKeyId: uuid()
      .notNull()
      .references(() => apiKey.id, { onDelete: "cascade" }),
    idempotencyKey: text().notNull(),
    requestHash: text().notNull(),
    responseStatus: integer().notNull(),
    responseBody: jsonb().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.apiKeyId, t.idempotencyKey] })],
);

/** Who did what, for every admin action and every API-key change. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: uuid().primaryKey().defaultRandom(),
    actorUserId: text(),
    actorLabel: text().notNull(),
    action: text().notNull(),
    targetUserId: text(),
    details: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("audit_log_created_idx").on(t.createdAt), index("audit_log_target_idx").on(t.targetUserId)],
);

/**
 * One signup gift per email address, ever: keyed by a hash of the normalised address, and kept when the
 * account is deleted, so deleting and re-creating an account does not earn a second gift.
 */
export const signupGiftClaim = pgTable("signup_gift_claim", {
  emailHash: text().primaryKey(),
  userId: text().notNull(),
  claimedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

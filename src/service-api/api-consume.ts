import { and, eq, sql } from "drizzle-orm";
import type { z } from "zod";
import { IdempotencyConflictError, NotFoundError } from "@/credits/errors";
import { legacyRequestHash, requestHash } from "@/credits/idempotency";
import { isStorableText } from "@/credits/schemas";
import { executePrepared, firstRow, sqlStateOf } from "@/credits/sql-rows";
import { apiIdempotency } from "@/db/schema";
import type { Database } from "@/db/types";
import { apiLedgerKey } from "./api-ledger-key";
import type { consumeBodySchema } from "./schemas";

/** The request fingerprint every service-API mutation is stored under (see runIdempotent). */
export function apiRequestHash(path: string, body: unknown): string {
  return requestHash("api", { path, body });
}

/**
 * POST /api/v1/users/{userId}/consume in one round trip: the `creditkit_api_consume` database function
 * (src/service-api/sql/api-consume.sql) claims the Idempotency-Key, checks the user, spends and stores the
 * response in one statement. Same answers and guarantees as the generic runIdempotent path.
 */
export async function apiConsume(
  db: Database,
  input: {
    apiKeyId: string;
    apiKeyName: string;
    idempotencyKey: string;
    path: string;
    userId: string;
    body: z.output<typeof consumeBodySchema>;
  },
  /** Tests only: production judges expiry by the database's clock. */
  now?: Date,
): Promise<{ status: number; body: unknown; replayed: boolean }> {
  // An id no user can have (see assertUserExists) is a 404 before the database is asked.
  if (input.userId.length > 200 || !isStorableText(input.userId)) throw new NotFoundError("User");
  const description = input.body.description ?? `Usage via API key ${input.apiKeyName}`;
  const metadata = { ...input.body.metadata, apiKeyId: input.apiKeyId };
  const ledgerKey = apiLedgerKey(input.apiKeyId, input.idempotencyKey).value;
  // The same fingerprint consumeCredits uses, so a spend made through either path replays through the other.
  const ledgerHash = requestHash("consume", { amount: input.body.amount, description, type: "consume" });
  try {
    const row = firstRow<{ o_status: number; o_body: unknown; o_replayed: boolean }>(
      await executePrepared(
        db,
        "creditkit_api_consume",
        sql`
        SELECT o_status, o_body, o_replayed FROM creditkit_api_consume(
          ${input.apiKeyId}::uuid, ${input.idempotencyKey}, ${apiRequestHash(input.path, input.body)}, ${input.userId},
          ${input.body.amount}, ${description}, ${ledgerKey}, ${ledgerHash}, ${JSON.stringify(metadata)}::jsonb,
          ${now ? now.toISOString() : null}::timestamptz)`,
      ),
    );
    const body = typeof row.o_body === "string" ? JSON.parse(row.o_body) : row.o_body;
    return { status: Number(row.o_status), body, replayed: row.o_replayed };
  } catch (error) {
    const code = sqlStateOf(error);
    if (code === "CK404") throw new NotFoundError("User", { userId: input.userId });
    if (code === "CK409") {
      const stored = await storedBeforeCanonicalHashes(db, input);
      if (stored) return stored;
      throw new IdempotencyConflictError({ idempotencyKey: input.idempotencyKey });
    }
    throw error;
  }
}

/**
 * A spend stored before request fingerprints became canonical JSON carries the old fingerprint, which
 * differs from the new one when its metadata arrived in another key order than sorted. Such a retry is the
 * same request and replays its stored response; anything else stays a conflict.
 */
async function storedBeforeCanonicalHashes(
  db: Database,
  input: { apiKeyId: string; idempotencyKey: string; path: string; body: unknown },
): Promise<{ status: number; body: unknown; replayed: true } | undefined> {
  const [stored] = await db
    .select()
    .from(apiIdempotency)
    .where(
      and(
        eq(apiIdempotency.apiKeyId, input.apiKeyId),
        eq(apiIdempotency.idempotencyKey, input.idempotencyKey),
      ),
    );
  if (!stored || stored.responseStatus === 0) return undefined;
  if (stored.requestHash !== legacyRequestHash("api", { path: input.path, body: input.body }))
    return undefined;
  return { status: stored.responseStatus, body: stored.responseBody, replayed: true };
}

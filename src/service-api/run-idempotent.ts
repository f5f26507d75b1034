import { and, eq } from "drizzle-orm";
import { IdempotencyConflictError } from "@/credits/errors";
import { legacyRequestHash, requestHash } from "@/credits/idempotency";
import { apiIdempotency } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";

export type ApiResponse = { status: number; body: unknown };

/**
 * Runs a service-API mutation at most once per (API key, Idempotency-Key). The key's row is inserted in
 * the same transaction as the mutation: a concurrent retry blocks on it and, once the first commits, gets
 * the stored response; a retry after a failure finds nothing and runs again. The same key with a
 * different request is refused, because answering it with the first response would be a lie.
 */
export async function runIdempotent(
  db: Database,
  scope: { apiKeyId: string; idempotencyKey: string; request: Record<string, unknown> },
  operation: (tx: DatabaseOrTransaction) => Promise<ApiResponse>,
): Promise<ApiResponse & { replayed: boolean }> {
  const hash = requestHash("api", scope.request);
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(apiIdempotency)
      .values({
        apiKeyId: scope.apiKeyId,
        idempotencyKey: scope.idempotencyKey,
        requestHash: hash,
        responseStatus: 0,
        responseBody: {},
      })
      .onConflictDoNothing()
      .returning({ key: apiIdempotency.idempotencyKey });
    if (claimed.length === 0) {
      const [stored] = await tx
        .select()
        .from(apiIdempotency)
        .where(
          and(
            eq(apiIdempotency.apiKeyId, scope.apiKeyId),
            eq(apiIdempotency.idempotencyKey, scope.idempotencyKey),
          ),
        );
      if (!stored) throw new Error("idempotency record vanished");
      // A request stored before fingerprints became canonical JSON still replays (see requestHash).
      if (stored.requestHash !== hash && stored.requestHash !== legacyRequestHash("api", scope.request))
        throw new IdempotencyConflictError({ idempotencyKey: scope.idempotencyKey });
      return { status: stored.responseStatus, body: stored.responseBody, replayed: true };
    }
    const response = await operation(tx);
    await tx
      .update(apiIdempotency)
      .set({ responseStatus: response.status, responseBody: response.body as object })
      .where(
        and(
          eq(apiIdempotency.apiKeyId, scope.apiKeyId),
          eq(apiIdempotency.idempotencyKey, scope.idempotencyKey),
        ),
      );
    return { ...response, replayed: false };
  });
}

import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { creditEntry } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { IdempotencyConflictError } from "./errors";

/** A stable fingerprint of what a mutation was asked to do, to tell a retry from a different request. */
export function requestHash(operation: string, parameters: Record<string, unknown>): string {
  const canonical = JSON.stringify(
    Object.keys(parameters)
      .sort()
      .map((key) => [
        key,
        parameters[key] instanceof Date ? (parameters[key] as Date).toISOString() : parameters[key],
      ]),
  );
  return createHash("sha256").update(`${operation}\n${canonical}`).digest("hex");
}

export type RecordedEntry = typeof creditEntry.$inferSelect;

/**
 * Looks up an earlier mutation with this key. Must run while the account lock is held, so a
 * concurrent first attempt has either committed (and is found here) or not started.
 */
export async function findReplay(
  tx: DatabaseOrTransaction,
  userId: string,
  idempotencyKey: string,
  hash: string,
): Promise<RecordedEntry | undefined> {
  const [existing] = await tx
    .select()
    .from(creditEntry)
    .where(and(eq(creditEntry.userId, userId), eq(creditEntry.idempotencyKey, idempotencyKey)))
    .limit(1);
  if (!existing) return undefined;
  if (existing.requestHash !== hash) throw new IdempotencyConflictError({ userId, idempotencyKey });
  return existing;
}

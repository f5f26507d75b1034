import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { and, eq } from "drizzle-orm";
import { creditEntry } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { IdempotencyConflictError, InvalidInputError } from "./errors";

/**
 * A stable fingerprint of what a mutation was asked to do, to tell a retry from a different request: the
 * SHA-256 of the operation's name and its parameters as `[name, value]` pairs sorted by name, serialised
 * with RFC 8785 (JSON Canonicalization Scheme, the `canonicalize` package). JCS sorts the keys of every
 * object at every depth, so the same data in another key order (a metadata object, say) is the same request.
 *
 * The sorted-pairs outer form is the one fingerprints had before JCS: for parameters whose values are not
 * objects (every ledger operation's), the serialisation is byte for byte what it was, so fingerprints stored
 * earlier still match. Values holding objects (the service API's request bodies) were serialised in their
 * arrival order before; those are also checked against legacyRequestHash (see runIdempotent, apiConsume).
 */
export function requestHash(operation: string, parameters: Record<string, unknown>): string {
  let canonical: string | undefined;
  try {
    canonical = canonicalize(
      Object.keys(parameters)
        .sort()
        .map((key) => [key, parameters[key]]),
    );
  } catch (error) {
    // JCS refuses what has no single serialisation (lone UTF-16 surrogates, NaN): the input's fault.
    throw new InvalidInputError("The request holds text or numbers that are not valid JSON.", {
      reason: error instanceof Error ? error.message : String(error),
    });
  }
  return createHash("sha256").update(`${operation}\n${canonical}`).digest("hex");
}

/**
 * The fingerprint as computed before canonical JSON: nested objects in arrival order. Only to recognise a
 * retry of a request stored before the upgrade; never stored for new requests.
 */
export function legacyRequestHash(operation: string, parameters: Record<string, unknown>): string {
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

import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { and, eq, sql } from "drizzle-orm";
import { CreditsError } from "@/credits/errors";
import { sandboxIdempotency } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";

/**
 * Stripe keeps an idempotency key for at least 24 hours; a key reused after it was pruned starts a new
 * request (https://docs.stripe.com/api/idempotent_requests). The sandbox prunes at exactly 24 hours.
 */
export const SANDBOX_IDEMPOTENCY_KEY_LIFETIME_HOURS = 24;

/** Stripe's limit on an Idempotency-Key's length. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * Stripe's `idempotency_error` (HTTP 400): the key was used before with another endpoint or other
 * parameters. Stripe refuses rather than guess which request was meant, and so does the sandbox.
 */
export class SandboxIdempotencyError extends CreditsError<"idempotency_error"> {
  constructor(idempotencyKey: string) {
    super(
      "idempotency_error",
      "Keys for idempotent requests can only be used with the same parameters they were first used with.",
      { context: { idempotencyKey } },
    );
  }
}

/** A sandbox call's fingerprint (SHA-256, hex) under its Idempotency-Key: its operation and parameters. */
export function sandboxRequestHash(operation: string, params: Record<string, unknown>): string {
  return (
    createHash("sha256")
      // RFC 8785 canonical JSON (the `canonicalize` package): object keys sorted at every depth, so the same
      // parameters always give the same fingerprint (as Stripe compares a retried request's parameters).
      .update(`${operation}\n${canonicalize(params) ?? "null"}`)
      .digest("hex")
  );
}

type StoredAnswer = { status: number; body: Record<string, unknown> };

/**
 * Runs one sandbox API call under an idempotency key, the way Stripe's API does:
 * - the first request with a key runs `run` and stores its answer, a result or the refusal it ended in
 *   (Stripe saves the answer of every request whose endpoint started executing, errors included);
 * - a repeat with the same endpoint and parameters gets the stored answer back and runs nothing;
 * - a repeat with another endpoint or other parameters is refused with `idempotency_error`;
 * - a concurrent repeat waits for the first: the key's row is inserted in the same transaction as the
 *   call's writes, so the second insert blocks on it until the first commits, then replays its answer.
 * `run` gets the transaction; its writes commit together with the stored answer or not at all.
 * Failures that are not refusals (the database failing) store nothing, so a retry runs again.
 */
export async function runSandboxIdempotent<T extends Record<string, unknown>>(
  db: Database,
  request: { idempotencyKey: string; operation: string; params: Record<string, unknown> },
  run: (tx: DatabaseOrTransaction) => Promise<T>,
): Promise<T> {
  const { idempotencyKey, operation } = request;
  const hash = sandboxRequestHash(operation, request.params);
  const answer = await db.transaction(async (tx): Promise<StoredAnswer | { refused: CreditsError }> => {
    // A key past its lifetime is pruned, as Stripe does, so it starts a new request.
    await tx
      .delete(sandboxIdempotency)
      .where(
        and(
          eq(sandboxIdempotency.idempotencyKey, idempotencyKey),
          sql`${sandboxIdempotency.createdAt} < now() - make_interval(hours => ${SANDBOX_IDEMPOTENCY_KEY_LIFETIME_HOURS})`,
        ),
      );
    const reserved = await tx
      .insert(sandboxIdempotency)
      .values({ idempotencyKey, operation, requestHash: hash, responseStatus: 0, responseBody: {} })
      .onConflictDoNothing()
      .returning({ key: sandboxIdempotency.idempotencyKey });
    if (reserved.length === 0) {
      const [stored] = await tx
        .select()
        .from(sandboxIdempotency)
        .where(eq(sandboxIdempotency.idempotencyKey, idempotencyKey));
      if (!stored) throw new Error("sandbox idempotency key vanished while it was being read");
      if (stored.operation !== operation || stored.requestHash !== hash) {
        throw new SandboxIdempotencyError(idempotencyKey);
      }
      return { status: stored.responseStatus, body: stored.responseBody };
    }
    let stored: StoredAnswer;
    let refused: CreditsError | undefined;
    try {
      // A savepoint: a refusal part-way through leaves none of the call's writes behind.
      const result = await tx.transaction((savepoint) => run(savepoint));
      stored = { status: 200, body: result };
    } catch (error) {
      if (!(error instanceof CreditsError)) throw error;
      refused = error;
      stored = { status: 400, body: { error: { code: error.code, message: error.message } } };
    }
    await tx
      .update(sandboxIdempotency)
      .set({ responseStatus: stored.status, responseBody: stored.body })
      .where(eq(sandboxIdempotency.idempotencyKey, idempotencyKey));
    return refused ? { refused } : stored;
  });
  if ("refused" in answer) throw answer.refused;
  if (answer.status !== 200) {
    const error = (answer.body as { error?: { code?: string; message?: string } }).error;
    throw new CreditsError(error?.code ?? "idempotency_error", error?.message ?? "The request was refused.");
  }
  return answer.body as T;
}

/** Removes keys past their lifetime; the scheduled job calls it so the table stays small. */
export async function pruneSandboxIdempotencyKeys(db: DatabaseOrTransaction): Promise<number> {
  const pruned = await db
    .delete(sandboxIdempotency)
    .where(
      sql`${sandboxIdempotency.createdAt} < now() - make_interval(hours => ${SANDBOX_IDEMPOTENCY_KEY_LIFETIME_HOURS})`,
    )
    .returning({ key: sandboxIdempotency.idempotencyKey });
  return pruned.length;
}

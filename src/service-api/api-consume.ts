import type { z } from "zod";
import { IdempotencyConflictError, NotFoundError } from "@/credits/errors";
import { legacyRequestHash, requestHash } from "@/credits/idempotency";
import { isStorableText } from "@/credits/schemas";
import type { Database } from "@/db/types";
import { apiLedgerKey } from "./api-ledger-key";
import { INSUFFICIENT_STATUS, runApiSpend, SPENT_STATUS } from "./api-spend-batches";
import type { consumeBodySchema } from "./schemas";

/** The request fingerprint every service-API mutation is stored under (see runIdempotent). */
export function apiRequestHash(path: string, body: unknown): string {
  return requestHash("api", { path, body });
}

/**
 * POST /api/v1/users/{userId}/consume in one round trip: the `creditkit_api_consume` database function
 * (src/service-api/sql/api-consume.sql) checks the Idempotency-Key, checks the user, spends and records the
 * outcome in one statement, and returns the outcome as data; the HTTP answer is built here. Spends that
 * arrive together share that statement and its commit (group commit, see runApiSpend). Same answers
 * and guarantees as the generic runIdempotent path:
 * - 200 `{ balance, entryId }` (balance after, held credits included; entryId as text);
 * - 402 `{ error: { code: "insufficient_credits", message, available } }`, recorded like a 200: a retry with
 *   the same key answers it again;
 * - a request whose key already has an answer gets that answer again (`replayed: true`), including answers
 *   recorded before the outcome was stored as data (their body as it was sent).
 * Throws NotFoundError for an unknown user and IdempotencyConflictError when the key was used for another
 * request; neither records anything.
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
  const hash = apiRequestHash(input.path, input.body);
  const row = await runApiSpend(db, {
    apiKeyId: input.apiKeyId,
    idempotencyKey: input.idempotencyKey,
    requestHash: hash,
    userId: input.userId,
    amount: input.body.amount,
    description,
    ledgerKey,
    ledgerHash,
    metadata: JSON.stringify(metadata),
    now: now ?? null,
  });

  switch (row.o_outcome) {
    case "spent":
      return {
        status: SPENT_STATUS,
        body: spentBody(row.o_entry_id, Number(row.o_balance)),
        replayed: false,
      };
    case "insufficient":
      return { status: INSUFFICIENT_STATUS, body: insufficientBody(Number(row.o_balance)), replayed: false };
    case "stored":
      // A spend recorded before request fingerprints became canonical JSON carries the old fingerprint,
      // which differs from the new one when its metadata arrived in another key order than sorted. Such a
      // retry is the same request and replays its answer; anything else is a conflict.
      if (
        row.o_stored_hash !== hash &&
        row.o_stored_hash !== legacyRequestHash("api", { path: input.path, body: input.body })
      )
        throw new IdempotencyConflictError({ idempotencyKey: input.idempotencyKey });
      return { status: Number(row.o_stored_status), body: recordedBody(row.o_stored_body), replayed: true };
    case "unknown_user":
      throw new NotFoundError("User", { userId: input.userId });
    case "conflict":
      throw new IdempotencyConflictError({ idempotencyKey: input.idempotencyKey });
    default:
      throw new Error(`creditkit_api_consume answered an unknown outcome: ${row.o_outcome}`);
  }
}

// Keys in the order the answers always had (PostgreSQL's jsonb order, from when SQL built them), so the
// bytes of an answer do not depend on when it was recorded.
function spentBody(entryId: string | number | null, balance: number) {
  return { balance, entryId: String(entryId) };
}

function insufficientBody(available: number) {
  return { error: { code: "insufficient_credits", message: "Not enough credits.", available } };
}

/**
 * The body of a recorded answer: rebuilt from the outcome the database recorded, or, for an answer
 * recorded before outcomes were stored as data, the body as it was sent.
 */
function recordedBody(stored: unknown): unknown {
  const record = (typeof stored === "string" ? JSON.parse(stored) : stored) as Record<string, unknown>;
  if (record?.outcome === "spent")
    return spentBody(record.entryId as string | number, Number(record.balance));
  if (record?.outcome === "insufficient") return insufficientBody(Number(record.available));
  return record;
}

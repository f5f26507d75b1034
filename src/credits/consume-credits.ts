import { is } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import type { DatabaseOrTransaction } from "@/db/types";
import { runSpend } from "./coalesce-spends";
import { IdempotencyConflictError } from "./errors";
import { requestHash } from "./idempotency";
import { parseInput } from "./parse-input";
import { type ConsumeCreditsInput, consumeCreditsInputSchema } from "./schemas";

/**
 * What a spend ended in: spent (`balance`: the account's balance afterwards, held credits included), or
 * refused for want of credits, an expected outcome (`available`: what the user could spend, in credits;
 * the same field createHold and captureHold refuse with).
 */
export type ConsumeCreditsResult =
  | { ok: true; entryId: number; balance: number; replayed: boolean }
  | { ok: false; reason: "insufficient_credits"; available: number };

/**
 * Spends credits, all or nothing, at most once per idempotency key. Draws the soonest-expiring lots first
 * so credits that would be lost soonest are used first; never-expiring lots last; oldest first among equals.
 * Due lots are expired first, so an expired lot is never spendable, and credits reserved by open holds are
 * not available. Not having enough credits is an expected outcome, returned as data.
 *
 * The work is one call of the `creditkit_consume` database function (src/credits/sql/consume-credits.sql): one round trip that
 * takes the user's row lock, checks the key, expires, draws, and records the entry and its allocations.
 * Concurrent spends of the same user in this process are coalesced into one call (coalesce-spends.ts).
 * Expiry is judged by the database's clock; `now` is for tests only.
 */
export async function consumeCredits(
  db: DatabaseOrTransaction,
  rawInput: ConsumeCreditsInput,
  now?: Date,
): Promise<ConsumeCreditsResult> {
  const input = parseInput(consumeCreditsInputSchema, rawInput);
  const hash = requestHash("consume", {
    amount: input.amount,
    description: input.description,
    type: input.type,
  });
  const row = await runSpend(
    db,
    {
      userId: input.userId,
      amount: input.amount,
      type: input.type,
      description: input.description,
      idempotencyKey: input.idempotencyKey,
      hash,
      metadata: input.metadata ?? null,
      now: now ?? null,
    },
    // Drizzle's own is() rather than instanceof: it also recognises a transaction made by another copy of
    // Drizzle (a library that bundles its own), where instanceof would say no.
    is(db, PgTransaction),
  );
  switch (row.o_status) {
    case "ok":
    case "replayed":
      return {
        ok: true,
        entryId: Number(row.o_entry_id),
        balance: Number(row.o_balance),
        replayed: row.o_status === "replayed",
      };
    case "insufficient":
      // creditkit_consume answers a shortfall with what was available in o_balance.
      return { ok: false, reason: "insufficient_credits", available: Number(row.o_balance) };
    case "conflict":
      throw new IdempotencyConflictError({ userId: input.userId, idempotencyKey: input.idempotencyKey });
    default:
      throw new Error(`creditkit_consume answered an unknown status: ${row.o_status}`);
  }
}

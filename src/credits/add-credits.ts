import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { IdempotencyConflictError, InvalidInputError } from "./errors";
import { requestHash } from "./idempotency";
import { parseInput } from "./parse-input";
import { type AddCreditsInput, addCreditsInputSchema } from "./schemas";
import { executePrepared, firstRow } from "./sql-rows";

export type AddCreditsResult = {
  entryId: number;
  lotId: string;
  balance: number;
  /** True when this call repeated an earlier one with the same idempotency key and changed nothing. */
  replayed: boolean;
};

/**
 * Grants credits as a new lot and records the grant in the ledger, atomically and at most once per
 * idempotency key. Purchases are `paid` credits; every other grant is `promotional` unless told otherwise,
 * because refunds and reports treat the two differently. Outstanding debt is repaid from the new lot first
 * (`creditkit_repay_debt`, the rule every path that gives credits back shares). `expireDays` counts from
 * the database's clock, like every expiry, and an `expiresAt` that is not in the future by that clock is
 * refused (InvalidInputError, 400): the lot would be expired before anyone could spend it. The same
 * idempotency key with another grant throws IdempotencyConflictError (409). One call of the
 * `creditkit_add_credits` database function (src/credits/sql/add-credits.sql): one round trip, which
 * answers its outcome as a status. `now` is for tests only.
 *
 * The one exception to "not in the future" is a `dispute_reversal` (src/payment/settle-purchase-clawback.ts):
 * a purchase's own credits coming back after a won dispute keep its expiry, and when that has passed the
 * lot expires at once. Such expired credits repay at most `options.expiredRepayLimit` credits of debt (the
 * debt the purchase's own clawbacks left; 0 when not given), never other debt. Not part of the request hash:
 * it is derived from the ledger, not asked for by a caller.
 */
export async function addCredits(
  db: DatabaseOrTransaction,
  rawInput: AddCreditsInput,
  now?: Date,
  options: { expiredRepayLimit?: number } = {},
): Promise<AddCreditsResult> {
  const input = parseInput(addCreditsInputSchema, rawInput);
  const hash = requestHash("add", {
    amount: input.amount,
    type: input.type,
    description: input.description,
    expireDays: input.expireDays ?? null,
    expiresAt: input.expiresAt ?? null,
    category: input.category ?? null,
    reference: input.reference ?? null,
    purchaseId: input.purchaseId ?? null,
  });

  const at = clockParam(now);
  const category =
    input.category ??
    (input.type === "purchase" || input.type === "dispute_reversal" ? "paid" : "promotional");
  const row = firstRow<{
    o_status: string;
    o_entry_id: string | number | null;
    o_lot_id: string | null;
    o_balance: string | number | null;
  }>(
    await executePrepared(
      db,
      "creditkit_add_credits",
      sql`
      SELECT o_status, o_entry_id, o_lot_id, o_balance FROM creditkit_add_credits(
        ${input.userId}, ${input.amount}, ${input.type}, ${input.description}, ${input.idempotencyKey}, ${hash},
        coalesce(${input.expiresAt ? input.expiresAt.toISOString() : null}::timestamptz,
                 coalesce(${at}::timestamptz, now()) + ${input.expireDays ?? null}::integer * interval '24 hours'),
        ${category}, ${input.reference ?? null},
        ${input.purchaseId ?? null}::uuid, ${input.metadata ? JSON.stringify(input.metadata) : null}::jsonb,
        ${at}::timestamptz, ${options.expiredRepayLimit ?? 0}::bigint)`,
    ),
  );
  switch (row.o_status) {
    case "ok":
    case "replayed":
      return {
        entryId: Number(row.o_entry_id),
        lotId: row.o_lot_id as string,
        balance: Number(row.o_balance),
        replayed: row.o_status === "replayed",
      };
    // Not an expected outcome but a caller's mistake: the key names one grant, and a retry must repeat it.
    case "conflict":
      throw new IdempotencyConflictError({ userId: input.userId, idempotencyKey: input.idempotencyKey });
    case "past_expiry":
      throw new InvalidInputError("expiresAt must be in the future.", { userId: input.userId });
    default:
      throw new Error(`creditkit_add_credits answered an unknown status: ${row.o_status}`);
  }
}

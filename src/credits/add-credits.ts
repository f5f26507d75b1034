import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { IdempotencyConflictError, InvalidInputError } from "./errors";
import { requestHash } from "./idempotency";
import { parseInput } from "./parse-input";
import { type AddCreditsInput, addCreditsInputSchema } from "./schemas";
import { executePrepared, firstRow, sqlStateOf } from "./sql-rows";

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
 * refused (InvalidInputError): the lot would be expired before anyone could spend it. One call of the
 * `creditkit_add_credits` database function (src/credits/sql/add-credits.sql): one
 * round trip. `now` is for tests only.
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
  try {
    const row = firstRow<{
      o_entry_id: string | number;
      o_lot_id: string;
      o_balance: string | number;
      o_replayed: boolean;
    }>(
      await executePrepared(
        db,
        "creditkit_add_credits",
        sql`
        SELECT o_entry_id, o_lot_id, o_balance, o_replayed FROM creditkit_add_credits(
          ${input.userId}, ${input.amount}, ${input.type}, ${input.description}, ${input.idempotencyKey}, ${hash},
          coalesce(${input.expiresAt ? input.expiresAt.toISOString() : null}::timestamptz,
                   coalesce(${at}::timestamptz, now()) + ${input.expireDays ?? null}::integer * interval '24 hours'),
          ${category}, ${input.reference ?? null},
          ${input.purchaseId ?? null}::uuid, ${input.metadata ? JSON.stringify(input.metadata) : null}::jsonb,
          ${at}::timestamptz, ${options.expiredRepayLimit ?? 0}::bigint)`,
      ),
    );
    return {
      entryId: Number(row.o_entry_id),
      lotId: row.o_lot_id,
      balance: Number(row.o_balance),
      replayed: row.o_replayed,
    };
  } catch (error) {
    if (sqlStateOf(error) === "CK409") {
      throw new IdempotencyConflictError({ userId: input.userId, idempotencyKey: input.idempotencyKey });
    }
    if (sqlStateOf(error) === "CK400") {
      throw new InvalidInputError("expiresAt must be in the future.", { userId: input.userId });
    }
    throw error;
  }
}

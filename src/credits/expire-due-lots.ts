import { and, eq, lte, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { firstRow } from "./sql-rows";

/**
 * Writes one `expire` entry for every lot of the user whose time has passed and that still has credits,
 * and zeroes those lots (the `creditkit_expire_due_lots` database function, migration 0001_ledger_functions). Runs under
 * the account lock, before any other mutation of the user, so the ledger's balance-after chain accounts
 * for expiry before the next change; the scheduled sweep calls the same function. Exactly-once comes from
 * the lock and the lot's `remaining` going to zero in the same transaction: a second run finds nothing due.
 * A lot can expire twice only when a hold returns credits to it after it expired; those credits then
 * expire at once, in an entry of their own.
 */
export async function expireDueLots(
  tx: DatabaseOrTransaction,
  userId: string,
  lockedBalance: number,
  now: Date,
): Promise<{ balance: number; expiredLots: number }> {
  const row = firstRow<{ o_balance: string | number; o_expired: number }>(
    await tx.execute(
      sql`SELECT o_balance, o_expired FROM creditkit_expire_due_lots(${userId}, ${lockedBalance}, ${now.toISOString()}::timestamptz)`,
    ),
  );
  return { balance: Number(row.o_balance), expiredLots: Number(row.o_expired) };
}

/** Sum of credits in lots that have expired but not yet been swept: not spendable, not part of the balance. */
export async function expiredUnsweptCredits(
  tx: DatabaseOrTransaction,
  userId: string,
  now: Date,
): Promise<number> {
  const [row] = await tx
    .select({ total: sql<string>`coalesce(sum(${creditLot.remaining}), 0)` })
    .from(creditLot)
    .where(and(eq(creditLot.userId, userId), eq(creditLot.spendable, true), lte(creditLot.expiresAt, now)));
  return Number(row?.total ?? 0);
}

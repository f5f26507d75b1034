import { eq, sql } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { lockAccount } from "./lock-account";

/**
 * Sets (or, with null, clears) the account's low-balance threshold, in credits: when the available
 * balance (balance - held) falls from at or above it to below it, a `balance.low` event is written in the
 * same transaction (src/outbound/sql/outbound-events.sql). Setting it writes no event even when the balance
 * is already below it: the event marks a crossing, not a state. Creates the account when the user has none
 * (under its row lock, like every ledger change); throws the database's foreign-key error for an unknown
 * user. `threshold` must be a positive integer or null (the caller validates; the database's CHECK too).
 */
export async function setLowBalanceThreshold(
  tx: DatabaseOrTransaction,
  input: { userId: string; threshold: number | null },
): Promise<{ threshold: number | null; available: number }> {
  const account = await lockAccount(tx, input.userId);
  await tx
    .update(creditAccount)
    .set({ lowBalanceThreshold: input.threshold, updatedAt: sql`now()` })
    .where(eq(creditAccount.userId, input.userId));
  return { threshold: input.threshold, available: account.balance - account.held };
}

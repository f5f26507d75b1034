import { eq, sql } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { firstRow } from "./sql-rows";

/** The account as locked: `balance` includes held credits; `held` is reserved by open holds; `debt` is owed. */
export type LockedAccount = { balance: number; held: number; debt: number };

/**
 * Creates the user's credit account if needed and takes its row lock for the rest of the transaction: one
 * call of `creditkit_lock_account` (src/credits/sql/lock-account.sql), the rule's one home, which every
 * ledger function in SQL uses too. Why a row lock: it serializes every mutation of one user (see the SQL
 * file). Throws the database's foreign-key error when no such user exists.
 */
export async function lockAccount(tx: DatabaseOrTransaction, userId: string): Promise<LockedAccount> {
  const row = firstRow<{
    o_balance: string | number | null;
    o_held: string | number;
    o_debt: string | number;
  }>(await tx.execute(sql`SELECT o_balance, o_held, o_debt FROM creditkit_lock_account(${userId})`));
  if (row.o_balance === null) throw new Error(`credit account for ${userId} vanished while locking`);
  return { balance: Number(row.o_balance), held: Number(row.o_held), debt: Number(row.o_debt) };
}

export async function setAccountBalance(
  tx: DatabaseOrTransaction,
  userId: string,
  balance: number,
  extra: { held?: number; debt?: number } = {},
): Promise<void> {
  await tx
    .update(creditAccount)
    .set({ balance, ...extra, updatedAt: sql`now()` })
    .where(eq(creditAccount.userId, userId));
}

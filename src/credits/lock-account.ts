import { eq, sql } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Creates the user's credit account if needed and takes its row lock for the rest of the transaction.
 *
 * Why a row lock and not only a conditional UPDATE: a spend touches several rows (lots, the entry,
 * the allocations, the account) and must read a consistent set of lots to draw from in expiry order.
 * Holding the account row lock makes every mutation of one user run one after another under
 * READ COMMITTED, so the balance-after chain, the idempotency check and the lot draw-down all see
 * the previous mutation's committed result. Different users never wait on each other.
 */
export type LockedAccount = { balance: number; held: number; debt: number };

export async function lockAccount(tx: DatabaseOrTransaction, userId: string): Promise<LockedAccount> {
  await tx.insert(creditAccount).values({ userId }).onConflictDoNothing();
  const [row] = await tx
    .select({ balance: creditAccount.balance, held: creditAccount.held, debt: creditAccount.debt })
    .from(creditAccount)
    .where(eq(creditAccount.userId, userId))
    .for("update");
  if (!row) throw new Error(`credit account for ${userId} vanished while locking`);
  return row;
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

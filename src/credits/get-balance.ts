import { eq } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { expiredUnsweptCredits } from "./expire-due-lots";

export type Balance = { balance: number };

/**
 * The spendable balance: the ledger's running total less any lot that expired but has not been swept
 * yet. Reads one account row and the user's expired-but-unswept lots (normally none), never the
 * history, so its cost does not grow with the number of entries.
 */
export async function getBalance(
  db: DatabaseOrTransaction,
  userId: string,
  now: Date = new Date(),
): Promise<Balance> {
  const [account] = await db
    .select({ balance: creditAccount.balance })
    .from(creditAccount)
    .where(eq(creditAccount.userId, userId));
  if (!account) return { balance: 0 };
  const expired = account.balance > 0 ? await expiredUnsweptCredits(db, userId, now) : 0;
  return { balance: account.balance - expired };
}

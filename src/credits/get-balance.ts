import { eq } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { expiredUnsweptCredits } from "./expire-due-lots";

export type Balance = {
  /** Every credit the user owns, including those reserved by open holds. */
  balance: number;
  /** Reserved by open holds: not available to other spends. */
  held: number;
  /** What a spend or a new hold can use now. */
  available: number;
  /** Owed after a refund or dispute took back credits that had already been spent. */
  debt: number;
};

/**
 * Reads one account row and the user's expired-but-unswept lots (normally none), never the history,
 * so its cost does not grow with the number of entries. Lots that expired before the sweep reached
 * them are already excluded.
 */
export async function getBalance(
  db: DatabaseOrTransaction,
  userId: string,
  now: Date = new Date(),
): Promise<Balance> {
  const [account] = await db
    .select({ balance: creditAccount.balance, held: creditAccount.held, debt: creditAccount.debt })
    .from(creditAccount)
    .where(eq(creditAccount.userId, userId));
  if (!account) return { balance: 0, held: 0, available: 0, debt: 0 };
  const expired = account.balance > account.held ? await expiredUnsweptCredits(db, userId, now) : 0;
  const balance = account.balance - expired;
  return { balance, held: account.held, available: balance - account.held, debt: account.debt };
}

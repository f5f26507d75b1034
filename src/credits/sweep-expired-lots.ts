import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { expireDueLots } from "./expire-due-lots";
import { lockAccount } from "./lock-account";

/**
 * The scheduled expiry sweep: for every user with lots past their expiry, writes one `expire` entry per
 * lot (the same code a user's next mutation would run, so each lot expires exactly once whichever comes
 * first). Users are processed in small batches, each batch one transaction that locks its accounts in
 * user-id order, so the sweep never deadlocks with itself and never holds one user's lock for long.
 */
export async function sweepExpiredLots(
  db: DatabaseOrTransaction,
  now: Date = new Date(),
  options: { usersPerTransaction?: number; maxUsers?: number } = {},
): Promise<{ expiredLots: number; users: number }> {
  const usersPerTransaction = options.usersPerTransaction ?? 50;
  const maxUsers = options.maxUsers ?? Number.POSITIVE_INFINITY;
  let expiredLots = 0;
  let users = 0;
  let lastUserId = "";
  while (users < maxUsers) {
    const batch = await db
      .selectDistinct({ userId: creditLot.userId })
      .from(creditLot)
      .where(
        and(
          eq(creditLot.spendable, true),
          lte(creditLot.expiresAt, now),
          sql`${creditLot.expiresAt} IS NOT NULL`,
          gt(creditLot.userId, lastUserId),
        ),
      )
      .orderBy(asc(creditLot.userId))
      .limit(usersPerTransaction);
    if (batch.length === 0) break;
    expiredLots += await db.transaction(async (tx) => {
      let count = 0;
      for (const { userId } of batch) {
        const locked = await lockAccount(tx, userId);
        count += (await expireDueLots(tx, userId, locked.balance, now)).expiredLots;
      }
      return count;
    });
    users += batch.length;
    lastUserId = batch.at(-1)?.userId ?? lastUserId;
  }
  return { expiredLots, users };
}

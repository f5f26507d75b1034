import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { firstRow, pgArrayLiteral } from "./sql-rows";

/** Users looked up per scan of the due lots, and users per statement. */
const USERS_PER_SCAN = 10_000;
const USERS_PER_STATEMENT = 100;

/**
 * The scheduled expiry sweep: for every user with lots past their expiry, writes one `expire` entry per
 * lot (the same database function a user's next mutation runs, so each lot expires exactly once whichever
 * comes first). The users with due lots are found in one scan of the due-lots index, then processed in
 * batches, each batch one statement (`creditkit_sweep_expired_lots`, migration 0001_ledger_functions) that locks its
 * accounts in user-id order: the sweep never deadlocks with itself and never holds one user's lock long.
 */
export async function sweepExpiredLots(
  db: DatabaseOrTransaction,
  now: Date = new Date(),
  options: { usersPerTransaction?: number; maxUsers?: number } = {},
): Promise<{ expiredLots: number; users: number }> {
  const perStatement = options.usersPerTransaction ?? USERS_PER_STATEMENT;
  const maxUsers = options.maxUsers ?? Number.POSITIVE_INFINITY;
  let expiredLots = 0;
  let users = 0;
  let lastUserId = "";
  while (users < maxUsers) {
    const due = await db
      .selectDistinct({ userId: creditLot.userId })
      .from(creditLot)
      .where(
        and(
          eq(creditLot.spendable, true),
          isNotNull(creditLot.expiresAt),
          lte(creditLot.expiresAt, now),
          gt(creditLot.userId, lastUserId),
        ),
      )
      .orderBy(asc(creditLot.userId))
      .limit(Math.min(USERS_PER_SCAN, maxUsers - users));
    if (due.length === 0) break;
    for (let start = 0; start < due.length; start += perStatement) {
      const batch = due.slice(start, start + perStatement).map((row) => row.userId);
      const result = firstRow<{ o_users: number; o_lots: number }>(
        await db.execute(
          sql`SELECT o_users, o_lots FROM creditkit_sweep_expired_lots(${now.toISOString()}::timestamptz, ${pgArrayLiteral(batch)}::text[])`,
        ),
      );
      expiredLots += Number(result.o_lots);
      users += Number(result.o_users);
    }
    lastUserId = due.at(-1)?.userId ?? lastUserId;
  }
  return { expiredLots, users };
}

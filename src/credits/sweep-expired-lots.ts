import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import { creditHold, creditHoldAllocation, creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { firstRow } from "./sql-rows";

/** Users looked up per scan of the due lots, and users per statement. */
const USERS_PER_SCAN = 10_000;
const USERS_PER_STATEMENT = 100;

/**
 * The scheduled expiry sweep: for every user with lots past their expiry, writes one `expire` entry per
 * lot (the same database function a user's next mutation runs, so each lot expires exactly once whichever
 * comes first). The users with due lots are found in one scan of the due-lots index, then processed in
 * batches, each batch one statement (`creditkit_sweep_expired_lots`, src/credits/sql/sweep-expired-lots.sql) that locks its
 * accounts in user-id order: the sweep never deadlocks with itself and never holds one user's lock long.
 * Users whose only due credits are reserved by open holds (the lot itself has nothing left) are found by a
 * second scan, of the open holds: held credits expire with their lot too. Due means due by the database's
 * clock; `now` is for tests only.
 */
export async function sweepExpiredLots(
  db: DatabaseOrTransaction,
  now?: Date,
  options: { usersPerTransaction?: number; maxUsers?: number } = {},
): Promise<{ expiredLots: number; users: number }> {
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
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
          lte(creditLot.expiresAt, at),
          gt(creditLot.userId, lastUserId),
        ),
      )
      .orderBy(asc(creditLot.userId))
      .limit(Math.min(USERS_PER_SCAN, maxUsers - users));
    if (due.length === 0) break;
    const result = await sweepUsers(
      db,
      due.map((row) => row.userId),
      now,
      perStatement,
    );
    expiredLots += result.expiredLots;
    users += result.users;
    lastUserId = due.at(-1)?.userId ?? lastUserId;
  }
  if (users < maxUsers) {
    const withHeld = await db
      .selectDistinct({ userId: creditHold.userId })
      .from(creditHold)
      .innerJoin(creditHoldAllocation, eq(creditHoldAllocation.holdId, creditHold.id))
      .innerJoin(creditLot, eq(creditLot.id, creditHoldAllocation.lotId))
      .where(and(eq(creditHold.status, "open"), lte(creditLot.expiresAt, at)))
      .orderBy(asc(creditHold.userId))
      .limit(Math.min(USERS_PER_SCAN, maxUsers - users));
    const result = await sweepUsers(
      db,
      withHeld.map((row) => row.userId),
      now,
      perStatement,
    );
    expiredLots += result.expiredLots;
    users += result.users;
  }
  return { expiredLots, users };
}

async function sweepUsers(
  db: DatabaseOrTransaction,
  userIds: string[],
  now: Date | undefined,
  perStatement: number,
): Promise<{ expiredLots: number; users: number }> {
  let expiredLots = 0;
  let users = 0;
  for (let start = 0; start < userIds.length; start += perStatement) {
    const batch = userIds.slice(start, start + perStatement);
    const result = firstRow<{ o_users: number; o_lots: number }>(
      await db.execute(
        sql`SELECT o_users, o_lots FROM creditkit_sweep_expired_lots(${clockParam(now)}::timestamptz, ${sql.param(batch)}::text[])`,
      ),
    );
    expiredLots += Number(result.o_lots);
    users += Number(result.o_users);
  }
  return { expiredLots, users };
}

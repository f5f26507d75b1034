import { eq, sql } from "drizzle-orm";
import { creditAccount } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { firstRow } from "./sql-rows";

/**
 * Writes one `expire` entry for every lot of the user whose time has passed (by the database's clock) and
 * that still has credits, free or reserved by open holds, and zeroes those lots (the
 * `creditkit_expire_due_lots` database function, src/credits/sql/expire-due-lots.sql). Held credits expire
 * with their lot: the holds' reservations and the account's `held` shrink. Runs under the account lock,
 * before any other mutation of the user, so the ledger's balance-after chain accounts for expiry before the
 * next change; the scheduled sweep calls the same function. Exactly-once comes from the lock and the lot's
 * credits leaving it in the same transaction: a second run finds nothing due.
 *
 * `only` limits the expiry to those lots (ids of credit_lot; the user's others are not judged at all):
 * for the payment sandbox's test clock, which may expire only one subscription's lots at its own time
 * (expire-lots-due-by.ts). Absent, every lot of the user is judged, as everywhere else.
 *
 * Returns the balance and `held` after expiry (`held` is re-read only when something expired).
 */
export async function expireDueLots(
  tx: DatabaseOrTransaction,
  userId: string,
  locked: { balance: number; held: number },
  now?: Date,
  only?: readonly string[],
): Promise<{ balance: number; held: number; expiredLots: number }> {
  const row = firstRow<{ o_balance: string | number; o_expired: number }>(
    await tx.execute(
      only
        ? sql`SELECT o_balance, o_expired FROM creditkit_expire_due_lots_among(${userId}, ${locked.balance}, ${clockParam(now)}::timestamptz, ${`{${only.join(",")}}`}::uuid[])`
        : sql`SELECT o_balance, o_expired FROM creditkit_expire_due_lots(${userId}, ${locked.balance}, ${clockParam(now)}::timestamptz)`,
    ),
  );
  const expiredLots = Number(row.o_expired);
  let held = locked.held;
  if (expiredLots > 0 && held > 0) {
    const [account] = await tx
      .select({ held: creditAccount.held })
      .from(creditAccount)
      .where(eq(creditAccount.userId, userId));
    held = account?.held ?? 0;
  }
  return { balance: Number(row.o_balance), held, expiredLots };
}

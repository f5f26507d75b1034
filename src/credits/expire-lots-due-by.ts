import { sql } from "drizzle-orm";
import { InvalidInputError } from "./errors";
import { expireDueLots } from "./expire-due-lots";
import { lockAccount } from "./lock-account";
import { firstRow } from "./sql-rows";

/**
 * Expires every lot of the user that is due by `at`, a time later than the database's clock: exists for
 * the payment sandbox's test clock only (src/payment/sandbox/advance-sandbox-subscription.ts), which moves
 * one subscription a billing period ahead so a newcomer can watch renewals without waiting a month. Time
 * has passed for that user, so their credits whose expiry it passed expire, exactly as the ledger's own
 * expiry would at that moment: same function (`creditkit_expire_due_lots`), same account lock, one
 * `expire` entry per lot, dated `at`. Production code never moves time: every other expiry is judged by
 * `now()` in SQL.
 *
 * Why entries dated in the future are safe: real-time entries written afterwards are dated before `at`,
 * and the lots expired here hold nothing any more, so no later entry can find credits of a lot past its
 * expiry (`no_entry_after_expiry` in verify).
 *
 * Refuses (InvalidInputError) an `at` before the database's clock: expiry is never moved backwards.
 * Returns the balance after expiry and how many lots expired. Call it inside the caller's transaction.
 */
export async function expireLotsDueBy(
  tx: Parameters<typeof lockAccount>[0],
  userId: string,
  at: Date,
): Promise<{ balance: number; expiredLots: number }> {
  const { behind } = firstRow<{ behind: boolean }>(
    await tx.execute(sql`SELECT ${at.toISOString()}::timestamptz < now() AS behind`),
  );
  if (behind)
    throw new InvalidInputError("The sandbox clock cannot move backwards.", { userId, at: at.toISOString() });
  const locked = await lockAccount(tx, userId);
  const expired = await expireDueLots(tx, userId, locked, at);
  return { balance: expired.balance, expiredLots: expired.expiredLots };
}

import { sql } from "drizzle-orm";
import { InvalidInputError } from "./errors";
import { expireDueLots } from "./expire-due-lots";
import { lockAccount } from "./lock-account";
import { firstRow } from "./sql-rows";

/**
 * Expires the lots of `lotIds` (ids of the user's credit_lot) that are due by `at`, a time later than the
 * database's clock: exists for the payment sandbox's test clock only
 * (src/payment/sandbox/advance-sandbox-subscription.ts), which moves one subscription a billing period
 * ahead so a newcomer can watch renewals without waiting a month. Time has passed for that subscription
 * only, so only its own lots (`lotIds`: its period grants, yearly slots, prorations, trial and rollover
 * carries) expire by the moved clock, exactly as the ledger's own expiry would at that moment: same rule
 * (`creditkit_expire_due_lots_among`, the whole-account function's body), same account lock, one
 * `expire` entry per lot, dated `at`, held credits of those lots expiring with them. Every other lot of
 * the user (packages, gifts, grants, the Free plan's) is not judged here at all: a subscription never
 * touches them, and their expiry stays the real clock's (`now()` in SQL, the sweep and every mutation).
 * Production code never moves time.
 *
 * Why entries dated in the future are safe: real-time entries written afterwards are dated before `at`,
 * and the lots expired here hold nothing any more, so no later entry can find credits of a lot past its
 * expiry (`no_entry_after_expiry` in verify). A lot not expired here (another's, or one of the
 * subscription's that is not due by `at`) has had no entry dated after its expiry: this writes only
 * `expire` entries.
 *
 * Refuses (InvalidInputError) an `at` before the database's clock: expiry is never moved backwards.
 * Returns the balance after expiry and how many lots expired. Call it inside the caller's transaction.
 */
export async function expireLotsDueBy(
  tx: Parameters<typeof lockAccount>[0],
  userId: string,
  at: Date,
  lotIds: readonly string[],
): Promise<{ balance: number; expiredLots: number }> {
  const { behind } = firstRow<{ behind: boolean }>(
    await tx.execute(sql`SELECT ${at.toISOString()}::timestamptz < now() AS behind`),
  );
  if (behind)
    throw new InvalidInputError("The sandbox clock cannot move backwards.", { userId, at: at.toISOString() });
  const locked = await lockAccount(tx, userId);
  const expired = await expireDueLots(tx, userId, locked, at, lotIds);
  return { balance: expired.balance, expiredLots: expired.expiredLots };
}

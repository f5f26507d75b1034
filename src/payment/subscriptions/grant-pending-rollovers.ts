import { and, asc, eq, lte, sql } from "drizzle-orm";
import { clockParam } from "@/credits/database-clock";
import { expireDueLots } from "@/credits/expire-due-lots";
import { lockAccount } from "@/credits/lock-account";
import { subscription, subscriptionRollover } from "@/db/schema";
import type { Database } from "@/db/types";
import { settleRollover } from "./roll-into-period";

/**
 * The job's part of rollover: settles carries left `pending` because the ending period's credits had not
 * all expired when the next period was granted (an invoice paid before the period's end). Each in its own
 * transaction, under the subscription's row lock then the account's (the order of every subscription
 * path): due lots are expired first, so the carry counts what has really expired, then settleRollover
 * grants it once (its row and ledger key make a second run, a restarted run or a concurrent instance find
 * it settled). Oldest first, at most `limit` per run. `now` is for tests only. Returns how many settled.
 */
export async function grantPendingRollovers(
  db: Database,
  options: { limit?: number; now?: Date } = {},
): Promise<{ settled: number }> {
  const due = await db
    .select()
    .from(subscriptionRollover)
    // Only carries whose ending period is over (it ends where the next starts): before that its credits
    // cannot all have expired, and looking again every run would only take locks.
    .where(
      and(
        eq(subscriptionRollover.status, "pending"),
        lte(subscriptionRollover.intoStart, sql`coalesce(${clockParam(options.now)}::timestamptz, now())`),
      ),
    )
    .orderBy(asc(subscriptionRollover.intoStart))
    .limit(options.limit ?? 100);
  let settled = 0;
  for (const row of due) {
    const outcome = await db.transaction(async (tx) => {
      await tx
        .select({ id: subscription.id })
        .from(subscription)
        .where(eq(subscription.id, row.subscriptionId))
        .for("update");
      const locked = await lockAccount(tx, row.userId);
      await expireDueLots(tx, row.userId, locked, options.now);
      return settleRollover(tx, row, options.now);
    });
    if (outcome !== "pending") settled++;
  }
  return { settled };
}

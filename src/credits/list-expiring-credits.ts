import { and, asc, eq, gt, lte } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type ExpiringCredits = { lotId: string; credits: number; expiresAt: string };

/** Lots with credits left that expire within the window, soonest first: what the user should spend first. */
export async function listExpiringCredits(
  db: DatabaseOrTransaction,
  userId: string,
  withinDays = 30,
  now: Date = new Date(),
): Promise<{ total: number; lots: ExpiringCredits[] }> {
  const until = new Date(now.getTime() + withinDays * 86_400_000);
  const rows = await db
    .select({ id: creditLot.id, remaining: creditLot.remaining, expiresAt: creditLot.expiresAt })
    .from(creditLot)
    .where(
      and(
        eq(creditLot.userId, userId),
        eq(creditLot.spendable, true),
        gt(creditLot.expiresAt, now),
        lte(creditLot.expiresAt, until),
      ),
    )
    .orderBy(asc(creditLot.expiresAt))
    .limit(100);
  const lots = rows.map((row) => ({
    lotId: row.id,
    credits: row.remaining,
    expiresAt: (row.expiresAt as Date).toISOString(),
  }));
  return { total: lots.reduce((sum, lot) => sum + lot.credits, 0), lots };
}

import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";

export type ExpiringCredits = { lotId: string; credits: number; expiresAt: string };

/**
 * Lots with credits left that expire within the window, soonest first: what the user should spend first.
 * The window starts at the database's now() (`now` is for tests only), the clock expiry is judged by.
 */
export async function listExpiringCredits(
  db: DatabaseOrTransaction,
  userId: string,
  withinDays = 30,
  now?: Date,
): Promise<{ total: number; lots: ExpiringCredits[] }> {
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
  const rows = await db
    .select({ id: creditLot.id, remaining: creditLot.remaining, expiresAt: creditLot.expiresAt })
    .from(creditLot)
    .where(
      and(
        eq(creditLot.userId, userId),
        eq(creditLot.spendable, true),
        gt(creditLot.expiresAt, at),
        lte(creditLot.expiresAt, sql`${at} + ${withinDays}::integer * interval '24 hours'`),
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

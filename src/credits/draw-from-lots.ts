import { and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import { creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type LotDraw = { lotId: string; amount: number };

/** Lots are read in pages of this size; most spends are covered by the first lot or two. */
const LOT_PAGE_SIZE = 50;

/**
 * Takes `amount` credits out of the user's spendable lots: soonest-expiring first (credits that would be
 * lost soonest are used first), never-expiring last, oldest first among equals. The caller holds the
 * account lock and has checked that enough is available.
 */
export async function drawFromLots(
  tx: DatabaseOrTransaction,
  userId: string,
  amount: number,
  now: Date,
): Promise<LotDraw[]> {
  const draws: LotDraw[] = [];
  let outstanding = amount;
  let offset = 0;
  while (outstanding > 0) {
    const lots = await tx
      .select({ id: creditLot.id, remaining: creditLot.remaining })
      .from(creditLot)
      .where(
        and(
          eq(creditLot.userId, userId),
          gt(creditLot.remaining, 0),
          or(isNull(creditLot.expiresAt), gt(creditLot.expiresAt, now)),
        ),
      )
      .orderBy(sql`${creditLot.expiresAt} ASC NULLS LAST`, asc(creditLot.createdAt), asc(creditLot.id))
      .limit(LOT_PAGE_SIZE)
      .offset(offset);
    if (lots.length === 0) {
      // The account said there was enough; the lots disagree. Refuse rather than overdraw.
      throw new Error(
        `ledger inconsistency for ${userId}: ${amount} available on the account but not in lots`,
      );
    }
    for (const lot of lots) {
      const take = Math.min(lot.remaining, outstanding);
      draws.push({ lotId: lot.id, amount: take });
      outstanding -= take;
      if (outstanding === 0) break;
    }
    offset += lots.length;
  }
  for (const draw of draws) {
    await tx
      .update(creditLot)
      .set({ remaining: sql`${creditLot.remaining} - ${draw.amount}` })
      .where(eq(creditLot.id, draw.lotId));
  }
  return draws;
}

/** Puts credits back into the lots they were drawn from (a released or partly captured hold). */
export async function returnToLots(tx: DatabaseOrTransaction, draws: readonly LotDraw[]): Promise<void> {
  for (const draw of draws) {
    if (draw.amount <= 0) continue;
    await tx
      .update(creditLot)
      .set({ remaining: sql`${creditLot.remaining} + ${draw.amount}` })
      .where(eq(creditLot.id, draw.lotId));
  }
}

import { randomUUID } from "node:crypto";
import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { creditAllocation, creditEntry, creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { requestHash } from "./idempotency";
import { setAccountBalance } from "./lock-account";

/**
 * Writes one `expire` entry for every lot of the user whose time has passed and that still has
 * credits, and zeroes those lots. Runs under the account lock, before any other mutation of the user,
 * so the ledger's balance-after chain always accounts for expiry before the next change; the scheduled
 * sweep calls the same function. Exactly-once comes from the account lock and the lot's `remaining`
 * going to zero in the same transaction: a second run finds nothing due. A lot can expire twice only when
 * a hold returns credits to it after it expired; those credits then expire at once, in an entry of their own.
 */
export async function expireDueLots(
  tx: DatabaseOrTransaction,
  userId: string,
  lockedBalance: number,
  now: Date,
): Promise<{ balance: number; expiredLots: number }> {
  const due = await tx
    .select({ id: creditLot.id, remaining: creditLot.remaining, expiresAt: creditLot.expiresAt })
    .from(creditLot)
    .where(and(eq(creditLot.userId, userId), gt(creditLot.remaining, 0), lte(creditLot.expiresAt, now)))
    .orderBy(asc(creditLot.expiresAt), asc(creditLot.createdAt));
  let balance = lockedBalance;
  for (const lot of due) {
    balance -= lot.remaining;
    await tx.update(creditLot).set({ remaining: 0 }).where(eq(creditLot.id, lot.id));
    const idempotencyKey = `expire:${lot.id}:${randomUUID()}`;
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId,
        type: "expire",
        amount: -lot.remaining,
        balanceAfter: balance,
        description: "Credits expired",
        reference: lot.id,
        idempotencyKey,
        requestHash: requestHash("expire", { lotId: lot.id }),
        metadata: { expiredAt: lot.expiresAt?.toISOString() },
      })
      .returning({ id: creditEntry.id });
    if (!entry) throw new Error("expire entry was not written");
    await tx.insert(creditAllocation).values({ entryId: entry.id, lotId: lot.id, amount: lot.remaining });
  }
  if (due.length > 0) await setAccountBalance(tx, userId, balance);
  return { balance, expiredLots: due.length };
}

/** Sum of credits in lots that have expired but not yet been swept: not spendable, not part of the balance. */
export async function expiredUnsweptCredits(
  tx: DatabaseOrTransaction,
  userId: string,
  now: Date,
): Promise<number> {
  const [row] = await tx
    .select({ total: sql<string>`coalesce(sum(${creditLot.remaining}), 0)` })
    .from(creditLot)
    .where(and(eq(creditLot.userId, userId), gt(creditLot.remaining, 0), lte(creditLot.expiresAt, now)));
  return Number(row?.total ?? 0);
}

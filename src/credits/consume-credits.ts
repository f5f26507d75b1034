import { and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import { creditAllocation, creditEntry, creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { expireDueLots } from "./expire-due-lots";
import { findReplay, requestHash } from "./idempotency";
import { lockAccount, setAccountBalance } from "./lock-account";
import { parseInput } from "./parse-input";
import { type ConsumeCreditsInput, consumeCreditsInputSchema } from "./schemas";

export type ConsumeCreditsResult =
  | { ok: true; entryId: number; balance: number; replayed: boolean }
  | { ok: false; reason: "insufficient_credits"; balance: number };

/** Lots are read in pages of this size; most spends are covered by the first lot or two. */
const LOT_PAGE_SIZE = 50;

/**
 * Spends credits, all or nothing. Draws the soonest-expiring lots first so credits that would be
 * lost soonest are used first; never-expiring lots last; oldest first among equals. Runs under the
 * account lock, after due lots are expired, so an expired lot is never spendable and the balance can
 * never go below zero. Not having enough credits is an expected outcome, returned as data.
 */
export async function consumeCredits(
  db: DatabaseOrTransaction,
  rawInput: ConsumeCreditsInput,
  now: Date = new Date(),
): Promise<ConsumeCreditsResult> {
  const input = parseInput(consumeCreditsInputSchema, rawInput);
  const hash = requestHash("consume", { amount: input.amount, description: input.description });

  return db.transaction(async (tx) => {
    const locked = await lockAccount(tx, input.userId);
    const replay = await findReplay(tx, input.userId, input.idempotencyKey, hash);
    if (replay) return { ok: true, entryId: replay.id, balance: replay.balanceAfter, replayed: true };

    const { balance: before } = await expireDueLots(tx, input.userId, locked.balance, now);
    if (before < input.amount) return { ok: false, reason: "insufficient_credits", balance: before };

    const draws: { lotId: string; amount: number }[] = [];
    let outstanding = input.amount;
    let offset = 0;
    while (outstanding > 0) {
      const lots = await tx
        .select({ id: creditLot.id, remaining: creditLot.remaining })
        .from(creditLot)
        .where(
          and(
            eq(creditLot.userId, input.userId),
            gt(creditLot.remaining, 0),
            or(isNull(creditLot.expiresAt), gt(creditLot.expiresAt, now)),
          ),
        )
        .orderBy(sql`${creditLot.expiresAt} ASC NULLS LAST`, asc(creditLot.createdAt), asc(creditLot.id))
        .limit(LOT_PAGE_SIZE)
        .offset(offset);
      if (lots.length === 0) {
        // The account balance said there was enough; the lots disagree. Refuse rather than overdraw.
        throw new Error(`ledger inconsistency for ${input.userId}: balance ${before} not backed by lots`);
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
    const balance = before - input.amount;
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId: input.userId,
        type: "consume",
        amount: -input.amount,
        balanceAfter: balance,
        description: input.description,
        idempotencyKey: input.idempotencyKey,
        requestHash: hash,
        metadata: input.metadata ?? null,
        createdAt: now,
      })
      .returning({ id: creditEntry.id });
    if (!entry) throw new Error("consume entry was not written");
    await tx.insert(creditAllocation).values(draws.map((draw) => ({ entryId: entry.id, ...draw })));
    await setAccountBalance(tx, input.userId, balance);
    return { ok: true, entryId: entry.id, balance, replayed: false };
  });
}

import { creditAllocation, creditEntry } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { drawFromLots } from "./draw-from-lots";
import { expireDueLots } from "./expire-due-lots";
import { findReplay, requestHash } from "./idempotency";
import { lockAccount, setAccountBalance } from "./lock-account";
import { parseInput } from "./parse-input";
import { type ConsumeCreditsInput, consumeCreditsInputSchema } from "./schemas";

export type ConsumeCreditsResult =
  | { ok: true; entryId: number; balance: number; replayed: boolean }
  /** `balance` here is what was available to spend. */
  | { ok: false; reason: "insufficient_credits"; balance: number };

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
  const hash = requestHash("consume", {
    amount: input.amount,
    description: input.description,
    type: input.type,
  });

  return db.transaction(async (tx) => {
    const locked = await lockAccount(tx, input.userId);
    const replay = await findReplay(tx, input.userId, input.idempotencyKey, hash);
    if (replay) return { ok: true, entryId: replay.id, balance: replay.balanceAfter, replayed: true };

    const { balance: before } = await expireDueLots(tx, input.userId, locked.balance, now);
    // Credits reserved by open holds belong to work in progress: they are not available to this spend.
    const available = before - locked.held;
    if (available < input.amount) return { ok: false, reason: "insufficient_credits", balance: available };

    const draws = await drawFromLots(tx, input.userId, input.amount, now);
    const balance = before - input.amount;
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId: input.userId,
        type: input.type,
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

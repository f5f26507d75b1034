import { eq, sql } from "drizzle-orm";
import { creditAllocation, creditEntry, creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { expireDueLots } from "./expire-due-lots";
import { findReplay, requestHash } from "./idempotency";
import { lockAccount, setAccountBalance } from "./lock-account";
import { parseInput } from "./parse-input";
import { type AddCreditsInput, addCreditsInputSchema } from "./schemas";

export type AddCreditsResult = {
  entryId: number;
  lotId: string;
  balance: number;
  /** True when this call repeated an earlier one with the same idempotency key and changed nothing. */
  replayed: boolean;
};

const DAY_MS = 86_400_000;

const repaymentKey = (grantKey: string) => `${grantKey}:debt-repayment`;
const repaymentHash = (grantHash: string) => requestHash("debt-repayment", { grant: grantHash });

/**
 * Debt left by a refund or dispute of credits that were already spent is repaid first from the next
 * grant, so a refunded customer cannot keep spending what they were paid back for.
 */
async function repayDebt(
  tx: DatabaseOrTransaction,
  input: { userId: string; idempotencyKey: string; amount: number },
  grantHash: string,
  lotId: string,
  balanceAfterGrant: number,
  debt: number,
  now: Date,
): Promise<number> {
  const repay = Math.min(debt, input.amount);
  await tx
    .update(creditLot)
    .set({ remaining: sql`${creditLot.remaining} - ${repay}` })
    .where(eq(creditLot.id, lotId));
  const [entry] = await tx
    .insert(creditEntry)
    .values({
      userId: input.userId,
      type: "debt_repayment",
      amount: -repay,
      debtChange: -repay,
      balanceAfter: balanceAfterGrant - repay,
      description: "Outstanding debt repaid from new credits",
      idempotencyKey: repaymentKey(input.idempotencyKey),
      requestHash: repaymentHash(grantHash),
      metadata: { lotId, debtBefore: debt },
      createdAt: now,
    })
    .returning({ id: creditEntry.id });
  if (!entry) throw new Error("debt repayment entry was not written");
  await tx.insert(creditAllocation).values({ entryId: entry.id, lotId, amount: repay });
  return repay;
}

/**
 * Grants credits as a new lot and records the grant in the ledger, atomically and at most once per
 * idempotency key. Purchases are `paid` credits; every other grant is `promotional` unless told otherwise,
 * because refunds and reports treat the two differently.
 */
export async function addCredits(
  db: DatabaseOrTransaction,
  rawInput: AddCreditsInput,
  now: Date = new Date(),
): Promise<AddCreditsResult> {
  const input = parseInput(addCreditsInputSchema, rawInput);
  const hash = requestHash("add", {
    amount: input.amount,
    type: input.type,
    description: input.description,
    expireDays: input.expireDays ?? null,
    expiresAt: input.expiresAt ?? null,
    category: input.category ?? null,
    reference: input.reference ?? null,
    purchaseId: input.purchaseId ?? null,
  });

  return db.transaction(async (tx) => {
    const locked = await lockAccount(tx, input.userId);
    const replay = await findReplay(tx, input.userId, input.idempotencyKey, hash);
    if (replay) {
      const lotId = String(replay.metadata?.lotId ?? "");
      const repayment = await findReplay(
        tx,
        input.userId,
        repaymentKey(input.idempotencyKey),
        repaymentHash(hash),
      );
      const balance = (repayment ?? replay).balanceAfter;
      return { entryId: replay.id, lotId, balance, replayed: true };
    }
    const { balance: before } = await expireDueLots(tx, input.userId, locked.balance, now);

    const expiresAt =
      input.expiresAt ?? (input.expireDays ? new Date(now.getTime() + input.expireDays * DAY_MS) : null);
    const [lot] = await tx
      .insert(creditLot)
      .values({
        userId: input.userId,
        credits: input.amount,
        remaining: input.amount,
        expiresAt,
        source: input.type,
        category:
          input.category ??
          (input.type === "purchase" || input.type === "dispute_reversal" ? "paid" : "promotional"),
        purchaseId: input.purchaseId ?? null,
        createdAt: now,
      })
      .returning({ id: creditLot.id });
    if (!lot) throw new Error("lot was not written");

    const balance = before + input.amount;
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId: input.userId,
        type: input.type,
        amount: input.amount,
        balanceAfter: balance,
        description: input.description,
        reference: input.reference ?? null,
        idempotencyKey: input.idempotencyKey,
        requestHash: hash,
        metadata: { ...input.metadata, lotId: lot.id },
        createdAt: now,
      })
      .returning({ id: creditEntry.id });
    if (!entry) throw new Error("grant entry was not written");

    await tx.update(creditLot).set({ grantEntryId: entry.id }).where(eq(creditLot.id, lot.id));
    const repaid = locked.debt > 0 ? await repayDebt(tx, input, hash, lot.id, balance, locked.debt, now) : 0;
    await setAccountBalance(tx, input.userId, balance - repaid, { debt: locked.debt - repaid });
    return { entryId: entry.id, lotId: lot.id, balance: balance - repaid, replayed: false };
  });
}

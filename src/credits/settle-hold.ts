import { asc, eq } from "drizzle-orm";
import { creditAllocation, creditEntry, creditHold, creditHoldAllocation } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { type LotDraw, returnToLots } from "./draw-from-lots";
import { HoldNotOpenError, InvalidInputError, NotFoundError } from "./errors";
import { expireDueLots } from "./expire-due-lots";
import { requestHash } from "./idempotency";
import { internalKey } from "./idempotency-keys";
import { lockAccount, setAccountBalance } from "./lock-account";

export type HoldRow = typeof creditHold.$inferSelect;
export type SettleOutcome = "captured" | "released" | "expired";

export type SettleHoldResult = {
  holdId: string;
  userId: string;
  status: SettleOutcome;
  captured: number;
  returned: number;
  entryId: number | null;
  balance: number;
  replayed: boolean;
};

/** Splits a hold's draws into what capture keeps (in draw order) and what goes back to the lots. */
function splitDraws(draws: readonly LotDraw[], keep: number): { kept: LotDraw[]; returned: LotDraw[] } {
  const kept: LotDraw[] = [];
  const returned: LotDraw[] = [];
  let left = keep;
  for (const draw of draws) {
    const take = Math.min(draw.amount, left);
    if (take > 0) kept.push({ lotId: draw.lotId, amount: take });
    if (draw.amount - take > 0) returned.push({ lotId: draw.lotId, amount: draw.amount - take });
    left -= take;
  }
  return { kept, returned };
}

/**
 * Closes an open hold: `capture` spends `amount` of it (a ledger entry with the lots it drew from) and
 * returns the rest; `release` and `expire` return everything. Settling a hold that is already settled
 * the same way answers the first result; settling it another way is refused (409), because its credits
 * have already gone where the first settlement sent them.
 */
export async function settleHold(
  db: DatabaseOrTransaction,
  input: { holdId: string; outcome: SettleOutcome; amount?: number; description?: string },
  now: Date = new Date(),
): Promise<SettleHoldResult> {
  return db.transaction(async (tx) => {
    const [peek] = await tx
      .select({ userId: creditHold.userId })
      .from(creditHold)
      .where(eq(creditHold.id, input.holdId));
    if (!peek) throw new NotFoundError("Hold", { holdId: input.holdId });
    const locked = await lockAccount(tx, peek.userId);
    const [hold] = await tx.select().from(creditHold).where(eq(creditHold.id, input.holdId));
    if (!hold) throw new NotFoundError("Hold", { holdId: input.holdId });

    const wanted = input.outcome === "captured" ? (input.amount ?? hold.amount) : 0;
    if (hold.status !== "open") {
      const sameCapture =
        hold.status === "captured" && input.outcome === "captured" && hold.capturedAmount === wanted;
      const sameRelease = hold.status === input.outcome && input.outcome !== "captured";
      if (sameCapture || sameRelease) {
        return {
          holdId: hold.id,
          userId: hold.userId,
          status: hold.status as SettleOutcome,
          captured: hold.capturedAmount ?? 0,
          returned: hold.amount - (hold.capturedAmount ?? 0),
          entryId: hold.captureEntryId,
          balance: locked.balance,
          replayed: true,
        };
      }
      throw new HoldNotOpenError(hold.id, hold.status);
    }
    // A hold past its time-to-live has already lost its claim, even if the sweep has not run yet: it is
    // released now (committed), and the caller is told the capture did not happen.
    if (input.outcome === "captured" && hold.expiresAt <= now) {
      return closeHold(tx, hold, locked, "expired", 0, now);
    }
    if (wanted > hold.amount) {
      throw new InvalidInputError(`Cannot capture ${wanted}: only ${hold.amount} were reserved.`);
    }
    return closeHold(tx, hold, locked, input.outcome, wanted, now, input.description);
  });
}

async function closeHold(
  tx: DatabaseOrTransaction,
  hold: HoldRow,
  locked: { balance: number; held: number },
  outcome: SettleOutcome,
  captured: number,
  now: Date,
  description?: string,
): Promise<SettleHoldResult> {
  const draws = await tx
    .select({ lotId: creditHoldAllocation.lotId, amount: creditHoldAllocation.amount })
    .from(creditHoldAllocation)
    .where(eq(creditHoldAllocation.holdId, hold.id))
    .orderBy(asc(creditHoldAllocation.position));
  const { kept, returned } = splitDraws(draws, captured);
  await returnToLots(tx, returned);

  let balance = locked.balance - captured;
  let entryId: number | null = null;
  if (captured > 0) {
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId: hold.userId,
        type: "consume",
        amount: -captured,
        balanceAfter: balance,
        description: description ?? hold.description,
        reference: hold.id,
        idempotencyKey: internalKey("hold-capture", hold.id).value,
        requestHash: requestHash("capture", { holdId: hold.id, amount: captured }),
        metadata: { holdId: hold.id, reserved: hold.amount },
        createdAt: now,
      })
      .returning({ id: creditEntry.id });
    if (!entry) throw new Error("capture entry was not written");
    entryId = entry.id;
    await tx.insert(creditAllocation).values(kept.map((draw) => ({ entryId: entry.id, ...draw })));
  }
  await tx
    .update(creditHold)
    .set({ status: outcome, capturedAmount: captured, captureEntryId: entryId, closedAt: now })
    .where(eq(creditHold.id, hold.id));
  await setAccountBalance(tx, hold.userId, balance, { held: locked.held - hold.amount });
  // Credits returned to a lot that expired meanwhile are expired now, so they never become spendable.
  if (returned.length > 0) {
    balance = (await expireDueLots(tx, hold.userId, balance, now)).balance;
  }
  return {
    holdId: hold.id,
    userId: hold.userId,
    status: outcome,
    captured,
    returned: hold.amount - captured,
    entryId,
    balance,
    replayed: false,
  };
}

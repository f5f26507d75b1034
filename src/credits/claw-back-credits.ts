import { and, asc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import { z } from "zod";
import { creditAllocation, creditEntry, creditLot } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { drawFromLots, type LotDraw } from "./draw-from-lots";
import { expireDueLots } from "./expire-due-lots";
import { findReplay, requestHash } from "./idempotency";
import { lockAccount, setAccountBalance } from "./lock-account";
import { parseInput } from "./parse-input";
import { creditAmountSchema, descriptionSchema, idempotencyKeySchema, userIdSchema } from "./schemas";

export const clawBackInputSchema = z
  .object({
    userId: userIdSchema,
    amount: creditAmountSchema,
    type: z.enum(["refund", "dispute"]),
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    /** Lots to take from first: the refunded purchase's own lot. */
    preferLotIds: z.array(z.uuid()).default([]),
    /**
     * Of the preferred lots, those taken before the others that expire at the same time: the lots of a
     * subscription period granted after it ended (settle-purchase-clawback.ts says why).
     */
    firstLotIds: z.array(z.uuid()).default([]),
    reference: z.string().max(255).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ClawBackInput = z.input<typeof clawBackInputSchema>;

export type ClawBackResult = {
  entryId: number;
  taken: number;
  debtAdded: number;
  balance: number;
  replayed: boolean;
};

/**
 * Takes credits back after money went back to the customer (a refund or a lost dispute). It takes from the
 * purchase's own lot first, then from the user's other spendable lots in the usual order. Whatever was
 * already spent cannot be taken, and the balance never goes negative: the shortfall becomes a debt on the
 * account, shown to the user and repaid first from the next grant. Credits reserved by open holds are left
 * alone: that work is already under way; when such a hold is released (or captures less), the credits that
 * come back repay the debt first (creditkit_repay_debt). Expiry is judged by the database's clock; `now` is
 * for tests only.
 */
export async function clawBackCredits(
  db: DatabaseOrTransaction,
  rawInput: ClawBackInput,
  now?: Date,
): Promise<ClawBackResult> {
  const input = parseInput(clawBackInputSchema, rawInput);
  // `firstLotIds` is left out of the fingerprint: it orders the lots the same amount comes from, so a step
  // retried with it (or, once written before it existed, without it) is the same request and replays.
  const hash = requestHash("clawback", {
    amount: input.amount,
    type: input.type,
    preferLotIds: input.preferLotIds,
    reference: input.reference ?? null,
  });

  return db.transaction(async (tx) => {
    const locked = await lockAccount(tx, input.userId);
    const replay = await findReplay(tx, input.userId, input.idempotencyKey, hash);
    if (replay) {
      return {
        entryId: replay.id,
        taken: -replay.amount,
        debtAdded: replay.debtChange,
        balance: replay.balanceAfter,
        replayed: true,
      };
    }
    const { balance: before, held } = await expireDueLots(tx, input.userId, locked, now);

    const draws: LotDraw[] = [];
    let outstanding = input.amount;
    if (input.preferLotIds.length > 0) {
      const preferred = await tx
        .select({ id: creditLot.id, remaining: creditLot.remaining })
        .from(creditLot)
        .where(
          and(
            eq(creditLot.userId, input.userId),
            inArray(creditLot.id, input.preferLotIds),
            eq(creditLot.spendable, true),
            or(
              isNull(creditLot.expiresAt),
              gt(creditLot.expiresAt, sql`coalesce(${clockParam(now)}::timestamptz, now())`),
            ),
          ),
        )
        // Several preferred lots (a purchase's own lot and the lots its reinstatements granted) are taken
        // in spending order, so the result never depends on the order the database happens to return.
        // Of lots that expire together, a carry (`rollover`) goes last: a yearly slot and the carry into
        // it share the year's purchase and were written in one transaction, and the refunded share must
        // come off the slot's own lot, or the slot's credits would look unspent and carry again. Then the
        // caller's `firstLotIds`: without them, lots of one purchase written in one transaction (a late
        // yearly invoice's months) would be taken in random id order, and what carries would be chance.
        .orderBy(
          sql`${creditLot.expiresAt} ASC NULLS LAST`,
          sql`(${creditLot.source} = 'rollover') ASC`,
          ...(input.firstLotIds.length > 0 ? [sql`(${inArray(creditLot.id, input.firstLotIds)}) DESC`] : []),
          asc(creditLot.createdAt),
          asc(creditLot.id),
        );
      for (const lot of preferred) {
        const take = Math.min(lot.remaining, outstanding);
        if (take <= 0) break;
        await tx
          .update(creditLot)
          .set({ remaining: sql`${creditLot.remaining} - ${take}` })
          .where(eq(creditLot.id, lot.id));
        draws.push({ lotId: lot.id, amount: take });
        outstanding -= take;
      }
    }
    const takenSoFar = input.amount - outstanding;
    const availableElsewhere = before - held - takenSoFar;
    const fromOthers = Math.min(outstanding, Math.max(0, availableElsewhere));
    if (fromOthers > 0) draws.push(...(await drawFromLots(tx, input.userId, fromOthers, now)));

    const taken = takenSoFar + fromOthers;
    const debtAdded = input.amount - taken;
    const balance = before - taken;
    const [entry] = await tx
      .insert(creditEntry)
      .values({
        userId: input.userId,
        type: input.type,
        amount: -taken,
        debtChange: debtAdded,
        balanceAfter: balance,
        description: input.description,
        reference: input.reference ?? null,
        idempotencyKey: input.idempotencyKey,
        requestHash: hash,
        metadata: { ...input.metadata, requested: input.amount },
        ...(now ? { createdAt: now } : {}),
      })
      .returning({ id: creditEntry.id });
    if (!entry) throw new Error("clawback entry was not written");
    if (draws.length > 0) {
      await tx
        .insert(creditAllocation)
        .values(mergeDraws(draws).map((draw) => ({ entryId: entry.id, ...draw })));
    }
    // A clawback never starts an auto top-up: the customer asked for their money back (or disputed the
    // charge), so charging their card again because of it would be wrong. The trigger's decision
    // (src/auto-top-up/sql/auto-top-up.sql) skips while this transaction-local setting is on; it is turned
    // off again at once, so a later ledger change in the same transaction decides as usual.
    await tx.execute(sql`SELECT set_config('creditkit.no_auto_top_up', 'on', true)`);
    await setAccountBalance(tx, input.userId, balance, { debt: locked.debt + debtAdded });
    await tx.execute(sql`SELECT set_config('creditkit.no_auto_top_up', '', true)`);
    return { entryId: entry.id, taken, debtAdded, balance, replayed: false };
  });
}

/** The preferred lot can also come up again among the other lots; one allocation row per lot. */
function mergeDraws(draws: readonly LotDraw[]): LotDraw[] {
  const byLot = new Map<string, number>();
  for (const draw of draws) byLot.set(draw.lotId, (byLot.get(draw.lotId) ?? 0) + draw.amount);
  return [...byLot].map(([lotId, amount]) => ({ lotId, amount }));
}

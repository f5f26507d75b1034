import { and, eq, sql } from "drizzle-orm";
import { creditHold, creditHoldAllocation } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { drawFromLots } from "./draw-from-lots";
import { IdempotencyConflictError } from "./errors";
import { expireDueLots } from "./expire-due-lots";
import { requestHash } from "./idempotency";
import { lockAccount, setAccountBalance } from "./lock-account";
import { parseInput } from "./parse-input";
import { type CreateHoldInput, createHoldInputSchema } from "./schemas";

export type CreateHoldResult =
  | { ok: true; holdId: string; amount: number; expiresAt: Date; available: number; replayed: boolean }
  | { ok: false; reason: "insufficient_credits"; available: number };

/**
 * Reserves credits for work whose cost is known only afterwards. The credits leave their lots (in the
 * same order a spend would take them) so no other spend can use them, but stay in the balance until the
 * hold is captured. A hold past its time-to-live is released by the sweep. The time-to-live runs on the
 * database's clock (`expiresAt` is the database's now() plus `ttlSeconds`), so app servers with skewed
 * clocks agree on when a hold lapses; `now` is for tests only.
 */
export async function createHold(
  db: DatabaseOrTransaction,
  rawInput: CreateHoldInput,
  now?: Date,
): Promise<CreateHoldResult> {
  const input = parseInput(createHoldInputSchema, rawInput);
  const hash = requestHash("hold", {
    amount: input.amount,
    description: input.description,
    ttl: input.ttlSeconds,
    // Only when given, so holds made without it keep the fingerprint they were stored with.
    ...(input.work !== undefined ? { work: input.work } : {}),
  });

  return db.transaction(async (tx) => {
    const locked = await lockAccount(tx, input.userId);
    const [existing] = await tx
      .select()
      .from(creditHold)
      .where(and(eq(creditHold.userId, input.userId), eq(creditHold.idempotencyKey, input.idempotencyKey)));
    if (existing) {
      if (existing.requestHash !== hash) {
        throw new IdempotencyConflictError({ userId: input.userId, idempotencyKey: input.idempotencyKey });
      }
      return {
        ok: true,
        holdId: existing.id,
        amount: existing.amount,
        expiresAt: existing.expiresAt,
        available: locked.balance - locked.held,
        replayed: true,
      };
    }

    const { balance, held } = await expireDueLots(tx, input.userId, locked, now);
    const available = balance - held;
    if (available < input.amount) return { ok: false, reason: "insufficient_credits", available };

    const draws = await drawFromLots(tx, input.userId, input.amount, now);
    const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
    const [hold] = await tx
      .insert(creditHold)
      .values({
        userId: input.userId,
        amount: input.amount,
        description: input.description,
        idempotencyKey: input.idempotencyKey,
        requestHash: hash,
        expiresAt: sql`${at} + ${input.ttlSeconds}::integer * interval '1 second'`,
        createdAt: at,
      })
      .returning({ id: creditHold.id, expiresAt: creditHold.expiresAt });
    if (!hold) throw new Error("hold was not written");
    await tx.insert(creditHoldAllocation).values(
      draws.map((draw, position) => ({
        holdId: hold.id,
        lotId: draw.lotId,
        amount: draw.amount,
        position,
      })),
    );
    await setAccountBalance(tx, input.userId, balance, { held: held + input.amount });
    return {
      ok: true,
      holdId: hold.id,
      amount: input.amount,
      expiresAt: hold.expiresAt,
      available: available - input.amount,
      replayed: false,
    };
  });
}

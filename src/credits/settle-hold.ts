import { sql } from "drizzle-orm";
import type { creditHold } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { HoldNotOpenError, InvalidInputError, NotFoundError } from "./errors";
import { firstRow } from "./sql-rows";

export type HoldRow = typeof creditHold.$inferSelect;
export type SettleOutcome = "captured" | "released" | "expired";

/** A hold closed by this call, or found closed the same way by an earlier one (`replayed`). */
export type HoldSettlement = {
  ok: true;
  holdId: string;
  userId: string;
  /**
   * The hold's status after this call: a capture of a hold past its time-to-live closes it as `expired`
   * instead (nothing captured).
   */
  status: SettleOutcome;
  /** Credits spent by the capture (0 for a release or expiry). */
  captured: number;
  /** Credits that went back to the lots they came from. */
  returned: number;
  /** Credits of this hold that expired with their lots while it was open. */
  expired: number;
  entryId: number | null;
  /** The account's balance afterwards, held credits included. */
  balance: number;
  /** What the user can spend afterwards (balance less held). */
  available: number;
  replayed: boolean;
};

/**
 * A capture the user's credits cannot pay: credits of the hold expired with their lots and the rest of the
 * user's available credits cannot cover the shortfall. An expected outcome, like a spend's shortfall:
 * nothing was captured, the hold is still open (the expiry is recorded); `available` is what the user
 * could spend, in credits.
 */
export type HoldShortfall = { ok: false; reason: "insufficient_credits"; holdId: string; available: number };

export type SettleHoldResult = HoldSettlement | HoldShortfall;

type SettleInput = { holdId: string; outcome: SettleOutcome; amount?: number; description?: string };

type SettleRow = {
  o_status: string;
  o_hold_status: string | null;
  o_user: string | null;
  o_captured: string | number;
  o_returned: string | number;
  o_expired: string | number | null;
  o_entry_id: string | number | null;
  o_balance: string | number | null;
  o_available: string | number | null;
  o_replayed: boolean;
};

/**
 * Closes an open hold: `capture` spends `amount` of it (default: what was reserved; a ledger entry with the
 * lots it drew from) and returns the rest; `release` and `expire` return everything. One call of the
 * `creditkit_settle_hold` database function (src/credits/sql/settle-hold.sql), under the
 * user's row lock, judged by the database's clock:
 * - due lots expire first, held credits with them, so a capture never spends an expired credit and the
 *   ledger shows the expiry before the capture; when the capture asks for more than the hold still has,
 *   the shortfall comes from the user's available credits like a spend, or nothing is captured and the
 *   hold stays open (HoldShortfall, `{ok: false, reason: "insufficient_credits", ...}`: only a capture
 *   can fall short);
 * - a hold past its time-to-live is closed as `expired` instead of captured;
 * - credits that come back repay outstanding debt first (`creditkit_repay_debt`).
 * Settling a hold that is already settled the same way answers the first result; settling it another way
 * is refused (409 `hold_not_open`), because its credits have already gone where the first settlement sent
 * them. Capturing more than was reserved is refused (400 `invalid_input`).
 */
export async function settleHold(
  db: DatabaseOrTransaction,
  input: SettleInput & { outcome: "captured" },
  now?: Date,
): Promise<SettleHoldResult>;
export async function settleHold(
  db: DatabaseOrTransaction,
  input: SettleInput & { outcome: "released" | "expired" },
  now?: Date,
): Promise<HoldSettlement>;
export async function settleHold(
  db: DatabaseOrTransaction,
  input: SettleInput,
  now?: Date,
): Promise<SettleHoldResult> {
  const row = firstRow<SettleRow>(
    await db.execute(sql`
      SELECT o_status, o_hold_status, o_user, o_captured, o_returned, o_expired, o_entry_id, o_balance,
             o_available, o_replayed
      FROM creditkit_settle_hold(${input.holdId}::uuid, ${input.outcome}, ${input.amount ?? null}::bigint,
                                 ${input.description ?? null}, ${clockParam(now)}::timestamptz)`),
  );
  switch (row.o_status) {
    case "not_found":
      throw new NotFoundError("Hold", { holdId: input.holdId });
    case "not_open":
      throw new HoldNotOpenError(input.holdId, row.o_hold_status ?? "closed");
    case "too_much":
      throw new InvalidInputError(`Cannot capture ${input.amount}: more than the hold reserved.`, {
        holdId: input.holdId,
      });
    case "insufficient":
      return {
        ok: false,
        reason: "insufficient_credits",
        holdId: input.holdId,
        available: Number(row.o_available),
      };
  }
  return {
    ok: true,
    holdId: input.holdId,
    userId: row.o_user as string,
    status: row.o_status as SettleOutcome,
    captured: Number(row.o_captured),
    returned: Number(row.o_returned),
    expired: Number(row.o_expired ?? 0),
    entryId: row.o_entry_id === null ? null : Number(row.o_entry_id),
    balance: Number(row.o_balance),
    available: Number(row.o_available),
    replayed: row.o_replayed,
  };
}

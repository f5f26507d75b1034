import type { DatabaseOrTransaction } from "@/db/types";
import { HoldNotOpenError } from "./errors";
import { parseInput } from "./parse-input";
import { type CaptureHoldInput, captureHoldInputSchema } from "./schemas";
import { type SettleHoldResult, settleHold } from "./settle-hold";

/**
 * What a capture ended in: captured (the settlement, `ok: true`), or refused because credits of the hold
 * expired with their lots and the user's other available credits do not cover the rest: an expected
 * outcome, returned like a spend's shortfall (HoldShortfall: `available` is what the user could spend, in
 * credits; the hold stays open, so the caller may capture less or release it).
 */
export type CaptureHoldResult = SettleHoldResult;

/**
 * Spends the actual cost of the work, at most what was reserved, and returns the rest to the lots (see
 * settleHold for expiry, the time-to-live and debt). Returns the shortfall when expired credits leave the
 * capture unpaid (see CaptureHoldResult); throws HoldNotOpenError (409) when the hold is no longer open
 * (captured, released, or past its time-to-live). `now` is for tests only: production uses the database's
 * clock.
 */
export async function captureHold(
  db: DatabaseOrTransaction,
  rawInput: CaptureHoldInput,
  now?: Date,
): Promise<CaptureHoldResult> {
  const input = parseInput(captureHoldInputSchema, rawInput);
  const result = await settleHold(
    db,
    {
      holdId: input.holdId,
      outcome: "captured",
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
      ...(input.description ? { description: input.description } : {}),
    },
    now,
  );
  // After the settlement statement has run, so a release of an expired hold, or the expiry of its credits,
  // stays recorded when `db` is not a caller's transaction.
  if (!result.ok) return result;
  if (result.status !== "captured") throw new HoldNotOpenError(result.holdId, result.status);
  return result;
}

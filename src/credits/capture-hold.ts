import type { DatabaseOrTransaction } from "@/db/types";
import { HoldCaptureInsufficientError, HoldNotOpenError } from "./errors";
import { parseInput } from "./parse-input";
import { type CaptureHoldInput, captureHoldInputSchema } from "./schemas";
import { type SettleHoldResult, settleHold } from "./settle-hold";

/**
 * Spends the actual cost of the work, at most what was reserved, and returns the rest to the lots (see
 * settleHold for expiry, the time-to-live and debt). Throws HoldNotOpenError (409) when the hold is past
 * its time-to-live, and HoldCaptureInsufficientError (402) when credits of the hold expired and the user's
 * other credits cannot cover the capture (the hold stays open). `now` is for tests only: production uses
 * the database's clock.
 */
export async function captureHold(
  db: DatabaseOrTransaction,
  rawInput: CaptureHoldInput,
  now?: Date,
): Promise<SettleHoldResult> {
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
  // Thrown after the settlement statement has run, so a release of an expired hold, or the expiry of its
  // credits, stays recorded when `db` is not a caller's transaction.
  if (result.status === "insufficient_credits")
    throw new HoldCaptureInsufficientError(result.holdId, result.available);
  if (result.status !== "captured") throw new HoldNotOpenError(result.holdId, result.status);
  return result;
}

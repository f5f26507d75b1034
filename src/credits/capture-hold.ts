import type { DatabaseOrTransaction } from "@/db/types";
import { HoldNotOpenError } from "./errors";
import { parseInput } from "./parse-input";
import { type CaptureHoldInput, captureHoldInputSchema } from "./schemas";
import { type SettleHoldResult, settleHold } from "./settle-hold";

/** Spends the actual cost of the work, at most what was reserved, and returns the rest to the lots. */
export async function captureHold(
  db: DatabaseOrTransaction,
  rawInput: CaptureHoldInput,
  now: Date = new Date(),
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
  // Thrown after the release of the expired hold has committed, so its credits are back either way.
  if (result.status !== "captured") throw new HoldNotOpenError(result.holdId, result.status);
  return result;
}

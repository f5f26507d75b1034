import { z } from "zod";
import type { DatabaseOrTransaction } from "@/db/types";
import { parseInput } from "./parse-input";
import { type HoldSettlement, settleHold } from "./settle-hold";

/**
 * Gives every reserved credit back (the work failed or was cancelled); what comes back repays outstanding
 * debt first. `now` is for tests only: production uses the database's clock.
 */
export async function releaseHold(
  db: DatabaseOrTransaction,
  rawInput: { holdId: string },
  now?: Date,
): Promise<HoldSettlement> {
  const input = parseInput(z.object({ holdId: z.uuid() }).strict(), rawInput);
  return settleHold(db, { holdId: input.holdId, outcome: "released" }, now);
}

import { and, asc, eq, lte } from "drizzle-orm";
import { creditHold } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { HoldNotOpenError } from "./errors";
import { settleHold } from "./settle-hold";

/**
 * The sweep's half for holds: every open hold past its time-to-live is released, one transaction per
 * hold so one user's lock never blocks the others for long. Safe to run concurrently and repeatedly.
 */
export async function releaseExpiredHolds(
  db: DatabaseOrTransaction,
  now: Date = new Date(),
  limit = 1000,
): Promise<{ released: number }> {
  const due = await db
    .select({ id: creditHold.id })
    .from(creditHold)
    .where(and(eq(creditHold.status, "open"), lte(creditHold.expiresAt, now)))
    .orderBy(asc(creditHold.expiresAt))
    .limit(limit);
  let released = 0;
  for (const hold of due) {
    try {
      const result = await settleHold(db, { holdId: hold.id, outcome: "expired" }, now);
      if (!result.replayed) released++;
    } catch (error) {
      // Captured or released by its owner between the look-up and the lock: nothing left to do.
      if (!(error instanceof HoldNotOpenError)) throw error;
    }
  }
  return { released };
}

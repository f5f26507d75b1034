import { and, asc, eq, lte, sql } from "drizzle-orm";
import { creditHold } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { clockParam } from "./database-clock";
import { HoldNotOpenError } from "./errors";
import { settleHold } from "./settle-hold";

/**
 * The sweep's half for holds: every open hold past its time-to-live (by the database's clock) is closed
 * as expired, one statement per hold so one user's lock never blocks the others for long. Its credits go
 * back to their lots (repaying debt first); credits whose lots expired meanwhile expire instead. Safe to
 * run concurrently and repeatedly. `now` is for tests only.
 */
export async function releaseExpiredHolds(
  db: DatabaseOrTransaction,
  now?: Date,
  limit = 1000,
): Promise<{ released: number }> {
  const due = await db
    .select({ id: creditHold.id })
    .from(creditHold)
    .where(
      and(
        eq(creditHold.status, "open"),
        lte(creditHold.expiresAt, sql`coalesce(${clockParam(now)}::timestamptz, now())`),
      ),
    )
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

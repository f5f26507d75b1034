import { releaseExpiredHolds } from "@/credits/release-expired-holds";
import { sweepExpiredLots } from "@/credits/sweep-expired-lots";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";

/**
 * One pass of the scheduled maintenance: expire lots past their date and release holds past their TTL, by
 * the database's clock (`now` is for tests only).
 */
export async function runSweep(db: Database, now?: Date) {
  const lots = await sweepExpiredLots(db, now);
  const holds = await releaseExpiredHolds(db, now);
  const result = { expiredLots: lots.expiredLots, users: lots.users, releasedHolds: holds.released };
  if (result.expiredLots > 0 || result.releasedHolds > 0)
    logger.info(result, "sweep: expired lots and released holds");
  return result;
}

import { compactLedgerAggregates } from "@/credits/compact-ledger-aggregates";
import { releaseExpiredHolds } from "@/credits/release-expired-holds";
import { sweepExpiredLots } from "@/credits/sweep-expired-lots";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { settleExpiredClawbacks } from "@/payment/settle-expired-clawbacks";
import { grantPendingRollovers } from "@/payment/subscriptions/grant-pending-rollovers";

/**
 * One pass of the scheduled maintenance: expire lots past their date and release holds past their TTL, by
 * the database's clock (`now` is for tests only), then settle again the purchases whose credits a refund
 * could not take (held) and that have expired since (src/payment/settle-expired-clawbacks.ts), and grant
 * the subscription rollovers that waited for their period's credits to expire (grant-pending-rollovers.ts).
 * Last, it folds the overview's aggregate deltas into their sums (compact-ledger-aggregates.ts), the sweep's
 * own expiry entries included.
 */
export async function runSweep(db: Database, now?: Date) {
  const lots = await sweepExpiredLots(db, now);
  const holds = await releaseExpiredHolds(db, now);
  const resettled = await settleExpiredClawbacks(db, now);
  const rollovers = await grantPendingRollovers(db, { now });
  const compactedDeltas = await compactLedgerAggregates(db);
  const result = {
    expiredLots: lots.expiredLots,
    users: lots.users,
    releasedHolds: holds.released,
    resettledPurchases: resettled,
    settledRollovers: rollovers.settled,
    compactedDeltas,
  };
  if (result.expiredLots > 0 || result.releasedHolds > 0 || resettled > 0 || rollovers.settled > 0)
    logger.info(result, "sweep: expired lots and released holds");
  return result;
}

import { type LowBalanceAlert, setLowBalanceAlert } from "@/credits/set-low-balance-alert";
import type { Database } from "@/db/types";
import type { LowBalanceAlertBody } from "./schemas";
import { syncPlanAllocations } from "./sync-plan-allocations";

/**
 * Saves a user's low-balance alert from the credits page: the threshold (credits, a percentage of the
 * plan's monthly credits, or null for none) and the language of its emails. A percentage needs the plans'
 * monthly credits in the database (`plan_allocation`), so they are copied from the catalog first, in the
 * same transaction. Answers the setting and the alert's state (setLowBalanceAlert).
 */
export async function saveLowBalanceAlert(
  db: Database,
  userId: string,
  body: LowBalanceAlertBody,
): Promise<LowBalanceAlert> {
  return db.transaction(async (tx) => {
    if (body.threshold && "percent" in body.threshold) await syncPlanAllocations(tx);
    return setLowBalanceAlert(tx, { userId, threshold: body.threshold, locale: body.locale });
  });
}

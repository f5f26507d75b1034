import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import {
  type FreePlanCreditsResult,
  grantFreePlanCredits,
} from "@/payment/subscriptions/grant-free-plan-credits";
import { type IssueDueSlotsResult, issueDueSlots } from "@/payment/subscriptions/issue-due-slots";

export type SubscriptionCreditsResult = { slots: IssueDueSlotsResult; free: FreePlanCreditsResult };

/**
 * One pass of the `subscription-credits` job (every minute): grants the yearly plans' monthly slots that
 * have come due (issue-due-slots.ts), then the Free plan's credits of every user without a paid plan for
 * their current period (grant-free-plan-credits.ts). Both are keyed by their cause and re-checked under
 * row locks, so a second pass, a pass restarted mid-way or passes on three instances at once grant each
 * slot and each Free period once. Slots first: a user whose yearly slot is granted now is not given Free
 * credits for the same time. `now` is for tests only (the ledger's clock, database-clock.ts).
 * Returns the counts of both parts.
 */
export async function runSubscriptionCredits(db: Database, now?: Date): Promise<SubscriptionCreditsResult> {
  const slots = await issueDueSlots(db, { now });
  const free = await grantFreePlanCredits(db, { now });
  const result = { slots, free };
  if (slots.granted + slots.grantedLate + slots.stopped > 0 || free.granted > 0)
    logger.info(result, "subscription credits: slots and Free plan credits granted");
  return result;
}

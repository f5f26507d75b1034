import { sql } from "drizzle-orm";
import type { CreditPeriod } from "@/credits/credit-periods";
import { firstRow } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";
import type { SubscriptionRow } from "./lock-subscription";

/**
 * When the subscription left the billing cycle of a paid year (`year`, the yearly line's period of
 * `invoiceId`): the earliest billing period of the subscription that began strictly inside the year,
 * else null. A period can only begin inside a paid year when the cycle was reset: a switch to a monthly
 * price made at once (the portal, the Dashboard, `proration_behavior: always_invoice`), or a new anchor.
 * Stripe then credits the year's unused time toward the new price, so the year's months from then on
 * were not paid for by this invoice any more; the months granted before stay the customer's (issue 10,
 * "Switching monthly ↔ yearly keeps the credits already granted").
 *
 * Read from two facts, whichever comes first: the start of another invoice's monthly period or yearly
 * slot grant of the subscription (written by its `invoice.paid`, whatever order the events come in, and
 * kept for good), and the subscription row's current period start (from `customer.subscription.updated`,
 * there even when the new cycle's invoice is not paid yet). Chosen over the current plan alone: a plan
 * says nothing of when the switch happened (a late job must still grant the months before it), and a
 * cycle reset on the same yearly plan (a new anchor, a new yearly invoice) would not show in it. Proration
 * grants (an upgrade's difference inside the same cycle) are not a new cycle and do not count. Of
 * another year only its first slot counts (the start of its cycle): the later slots of a year that began
 * before this one (left for this one: yearly → monthly → yearly again) fall inside this year without
 * starting anything, and taking them for a new cycle stopped every month of this year after its first.
 * Plan changes at the year's end (the app's own yearly → monthly switch) begin at the year's end, not inside.
 */
export async function yearlyCycleLeftAt(
  tx: DatabaseOrTransaction,
  input: {
    subscription: Pick<SubscriptionRow, "id" | "currentPeriodStart">;
    invoiceId: string;
    year: CreditPeriod;
  },
): Promise<Date | null> {
  const yearStart = input.year.start.toISOString();
  const yearEnd = input.year.end.toISOString();
  const { leftAt } = firstRow<{ leftAt: string | Date | null }>(
    await tx.execute(sql`
      SELECT min(g.period_start) AS "leftAt" FROM subscription_period_grant g
      WHERE g.subscription_id = ${input.subscription.id}
        AND g.invoice_id <> ${input.invoiceId}
        AND (g.kind = 'period' OR (g.kind = 'slot' AND g.slot_index = 0))
        AND g.period_start > ${yearStart}::timestamptz
        AND g.period_start < ${yearEnd}::timestamptz`),
  );
  const candidates = [leftAt ? new Date(leftAt) : null, input.subscription.currentPeriodStart].filter(
    (at): at is Date =>
      at !== null && at.getTime() > input.year.start.getTime() && at.getTime() < input.year.end.getTime(),
  );
  if (candidates.length === 0) return null;
  return new Date(Math.min(...candidates.map((at) => at.getTime())));
}

/** Whether a slot starting at `slotStart` comes after the subscription left its year (yearlyCycleLeftAt). */
export function slotAfterCycleLeft(leftAt: Date | null, slotStart: Date): boolean {
  return leftAt !== null && leftAt.getTime() <= slotStart.getTime();
}

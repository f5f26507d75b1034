import { sql } from "drizzle-orm";
import { clockParam } from "@/credits/database-clock";
import { firstRow } from "@/credits/sql-rows";
import type { DatabaseOrTransaction } from "@/db/types";
import type { SubscriptionRow } from "./lock-subscription";

/** Statuses of a subscription that has ended: no billing period is in force any more. */
const ENDED_STATUSES = ["canceled", "incomplete_expired"];

/**
 * When the credits of a period paid after it ended expire (the late-payment rule, invoice-paid.ts): a
 * monthly line's period, or a yearly line's monthly slot whose month had passed when the year was paid. At
 * the end of the billing period in force when the payment arrives, so the customer who paid gets the
 * period's credits with time to spend them, and never a lot that expired at birth. By the database's clock
 * (`now` is for tests only), the first of:
 *
 * 1. the subscription has ended (`canceled`, `incomplete_expired`): no period is in force, so the credits
 *    get the paid period's own length counted from the payment. That is the time an on-time payment would
 *    have given them, and a fixed minimum is wrong both for a month and for a long period;
 * 1b. `inForce`, when the caller knows the period in force from the invoice itself (a yearly invoice paid
 *    late: the slot of the same year that contains the payment, granted in the same transaction): its end.
 *    A yearly plan's period in force is that monthly slot, never the whole year the subscription row names;
 * 2. a granted base period of this subscription (a monthly line or a yearly slot) that contains `now`:
 *    its end, from the provider's own invoice line (the following period, usually, which
 *    rollIntoFollowingPeriod also looks up);
 * 3. the subscription row's current period, when it contains `now` (the provider's latest snapshot);
 * 4. otherwise (the next invoice has not been applied and the snapshot is stale) the same minimum life as 1.
 *
 * Always later than both `now` and the paid period's end (the schema's CHECK holds the second).
 */
export async function latePeriodLotExpiry(
  tx: DatabaseOrTransaction,
  subscription: SubscriptionRow,
  paid: { start: Date; end: Date },
  now?: Date,
  inForce?: { start: Date; end: Date },
): Promise<Date> {
  const at = sql`coalesce(${clockParam(now)}::timestamptz, now())`;
  const ended = ENDED_STATUSES.includes(subscription.status);
  if (!ended && inForce && inForce.end.getTime() > paid.end.getTime()) return inForce.end;
  const lengthMs = paid.end.getTime() - paid.start.getTime();
  const { expires } = firstRow<{ expires: string | Date }>(
    await tx.execute(sql`
      SELECT coalesce(
        CASE WHEN ${ended} THEN NULL ELSE (
          SELECT max(g.period_end) FROM subscription_period_grant g
          WHERE g.subscription_id = ${subscription.id} AND g.kind IN ('period', 'slot')
            AND g.status IN ('granted', 'scheduled') AND g.lot_expires_at IS NULL
            AND g.period_start <= ${at} AND g.period_end > ${at}) END,
        CASE WHEN NOT ${ended}
               AND ${subscription.currentPeriodStart?.toISOString() ?? null}::timestamptz <= ${at}
               AND ${subscription.currentPeriodEnd?.toISOString() ?? null}::timestamptz > ${at}
             THEN ${subscription.currentPeriodEnd?.toISOString() ?? null}::timestamptz END,
        ${at} + make_interval(secs => ${Math.max(1, Math.floor(lengthMs / 1000))})
      ) AS expires`),
  );
  const date = new Date(expires);
  // The paid period's end has passed, so every answer above is after it; kept explicit for the CHECK.
  return date.getTime() > paid.end.getTime() ? date : new Date(paid.end.getTime() + 1000);
}

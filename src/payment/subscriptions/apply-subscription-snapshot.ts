import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus, subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import type { SubscriptionRow } from "./lock-subscription";
import { planOfPrice } from "./plan-prices";

/**
 * The moves a subscription's state can make (Stripe's lifecycle, plus our `checkout` before the provider
 * has said anything). `canceled`, `incomplete_expired` and `abandoned` are terminal: nothing reopens them.
 */
const NEXT: Record<SubscriptionStatus, readonly SubscriptionStatus[]> = {
  checkout: ["incomplete", "trialing", "active", "abandoned"],
  abandoned: [],
  incomplete: ["active", "trialing", "incomplete_expired"],
  incomplete_expired: [],
  trialing: ["active", "past_due", "canceled", "paused", "unpaid"],
  active: ["past_due", "canceled", "unpaid", "paused"],
  past_due: ["active", "unpaid", "canceled"],
  unpaid: ["active", "canceled"],
  paused: ["active", "canceled"],
  canceled: [],
};

/**
 * Every state reachable from each state in one or more moves. Events can be lost or arrive out of order,
 * so a snapshot may skip states (`checkout` straight to `active` when `created` comes after `updated`);
 * what it may never do is go back (`canceled` to `active` from a late event).
 */
const REACHABLE = new Map<SubscriptionStatus, ReadonlySet<SubscriptionStatus>>(
  SUBSCRIPTION_STATUSES.map((from) => {
    const seen = new Set<SubscriptionStatus>();
    const pending = [...NEXT[from]];
    for (let next = pending.pop(); next; next = pending.pop()) {
      if (seen.has(next)) continue;
      seen.add(next);
      pending.push(...NEXT[next]);
    }
    return [from, seen];
  }),
);

const reaches = (from: SubscriptionStatus, to: SubscriptionStatus) => REACHABLE.get(from)?.has(to) ?? false;

function isStatus(value: unknown): value is SubscriptionStatus {
  return (SUBSCRIPTION_STATUSES as readonly unknown[]).includes(value);
}

const date = (seconds: number | null | undefined) => (seconds == null ? null : new Date(seconds * 1000));

export type SnapshotOutcome = "applied" | "applied_current" | "stale" | "not_forward" | "same_time_undecided";

/**
 * Applies the state a provider reported for a subscription (the object of a `customer.subscription.*`
 * event, created at `at`) to our locked row, only ever forward:
 *
 * 1. Older than the state we hold (`at < state_at`): ignored (`stale`). Stripe does not guarantee the
 *    order of deliveries; the newest report wins.
 * 2. A status the row cannot reach from where it is (a late `active` after `canceled`): ignored
 *    (`not_forward`). Terminal states never reopen.
 * 3. At the same second as the state we hold (`Event.created` has one-second resolution), a change is
 *    applied only when it is strictly forward (the old status cannot be reached back from the new one);
 *    otherwise the order cannot be told from the events (`active` ⇄ `past_due`): the provider's current
 *    object (`options.current`, fetched by the caller before it took the row's lock) is applied instead,
 *    still only forward, keeping `state_at` (`applied_current`). Without one the row is left as it is
 *    (`same_time_undecided`).
 * 4. Otherwise copied: status, plan (the item's price, through plan_price), the period (from the item:
 *    in this API version periods live on subscription items), the cancellation fields, the anchor and the
 *    plan a scheduled change moves to at the period's end (scheduledPlanOf).
 *
 * Never grants or takes credits: only a paid invoice grants, whatever the subscription's status.
 * Throws UnknownEventValueError for a status or price this code does not know.
 */
export async function applySubscriptionSnapshot(
  tx: DatabaseOrTransaction,
  row: SubscriptionRow,
  object: Stripe.Subscription,
  at: Date,
  options: { current?: Stripe.Subscription } = {},
): Promise<SnapshotOutcome> {
  const status = object.status as unknown;
  if (!isStatus(status))
    throw new UnknownEventValueError(`Subscription status ${String(status)} is not known.`, {
      subscriptionId: row.id,
      status,
    });
  const current = row.status as SubscriptionStatus;
  if (row.stateAt && at.getTime() < row.stateAt.getTime()) return "stale";
  const moves = status !== current;
  if (moves && !reaches(current, status)) return "not_forward";
  const item = object.items?.data?.[0];
  const periodEnd = date(item?.current_period_end);
  if (row.stateAt && at.getTime() === row.stateAt.getTime()) {
    if (moves && reaches(status, current)) {
      const fetched = options.current;
      if (!fetched || fetched.id !== object.id) return "same_time_undecided";
      // The provider's object is the state now, newer than either report: applied as of this second.
      const outcome = await writeSnapshot(tx, row, fetched, at);
      return outcome === "applied" ? "applied_current" : outcome;
    }
    // The same status at the same time: only a period that moves forward is news.
    if (!moves && periodEnd && row.currentPeriodEnd && periodEnd.getTime() < row.currentPeriodEnd.getTime())
      return "stale";
  }

  return writeSnapshot(tx, row, object, at);
}

/**
 * Copies a snapshot the caller decided is newer onto the row, if its status is reachable from the row's
 * (`not_forward` otherwise, nothing written), recording `at` as the row's `state_at`.
 */
export async function writeSnapshot(
  tx: DatabaseOrTransaction,
  row: SubscriptionRow,
  object: Stripe.Subscription,
  at: Date,
): Promise<"applied" | "not_forward"> {
  const status = object.status as unknown;
  if (!isStatus(status))
    throw new UnknownEventValueError(`Subscription status ${String(status)} is not known.`, {
      subscriptionId: row.id,
      status,
    });
  const current = row.status as SubscriptionStatus;
  if (status !== current && !reaches(current, status)) return "not_forward";
  const item = object.items?.data?.[0];
  const periodEnd = date(item?.current_period_end);
  const priceRef = item?.price;
  const priceId = typeof priceRef === "string" ? priceRef : priceRef?.id;
  const plan = priceId ? await planOfPrice(tx, priceId) : undefined;
  const scheduledPlanId = await scheduledPlanOf(tx, object, plan?.id ?? row.planId);
  await tx
    .update(subscription)
    .set({
      status,
      ...(plan ? { planId: plan.id } : {}),
      ...(scheduledPlanId === undefined ? {} : { scheduledPlanId }),
      ...(item ? { currentPeriodStart: date(item.current_period_start), currentPeriodEnd: periodEnd } : {}),
      cancelAtPeriodEnd: object.cancel_at_period_end ?? false,
      cancelAt: date(object.cancel_at),
      canceledAt: date(object.canceled_at),
      endedAt: date(object.ended_at),
      billingCycleAnchor: date(object.billing_cycle_anchor),
      stateAt: at,
      updatedAt: sql`now()`,
    })
    .where(eq(subscription.id, row.id));
  return "applied";
}

/**
 * The plan a subscription schedule moves the subscription to when its current period ends (a downgrade
 * waiting for the period's end): the price of the schedule's phase that starts at the item's
 * `current_period_end`. Null when no schedule (or no later phase on another plan) is attached, or the
 * schedule is no longer running. Undefined when the snapshot names a schedule without expanding it (Stripe's
 * webhooks send only its id): what is known is kept. An unknown price is refused (planOfPrice).
 */
async function scheduledPlanOf(
  tx: DatabaseOrTransaction,
  object: Stripe.Subscription,
  planInForce: string,
): Promise<string | null | undefined> {
  const schedule = object.schedule;
  if (schedule == null) return null;
  if (typeof schedule === "string") return undefined;
  if (schedule.status !== "active" && schedule.status !== "not_started") return null;
  const periodEnd = object.items?.data?.[0]?.current_period_end;
  const next = schedule.phases?.find((phase) => phase.start_date === periodEnd);
  const priceRef = next?.items?.[0]?.price;
  const priceId = typeof priceRef === "string" ? priceRef : priceRef?.id;
  if (!priceId) return null;
  const plan = await planOfPrice(tx, priceId);
  return plan.id === planInForce ? null : plan.id;
}

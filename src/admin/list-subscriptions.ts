import { desc, eq } from "drizzle-orm";
import { InvalidInputError } from "@/credits/errors";
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus, subscription, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/** How many subscriptions one answer holds at most: the console shows the recent ones, never a full scan. */
export const MAX_LISTED_SUBSCRIPTIONS = 200;

/** Whether `value` is a status a subscription can have (the schema's check constraint lists the same). */
export function isSubscriptionStatus(value: unknown): value is SubscriptionStatus {
  return (SUBSCRIPTION_STATUSES as readonly unknown[]).includes(value);
}

/**
 * Recent subscriptions across all users, newest first, optionally of one status: where an operator finds
 * who is past due, who is leaving at the period's end and whose plan changes next period.
 *
 * `limit` defaults to 50 and is held to 1–200. An unknown `status` throws InvalidInputError (a 400 at the
 * edge) rather than answering an empty list, so a typo in a filter is never read as "nobody is past due".
 * Times are ISO 8601 text; null where the provider has not told us yet (a checkout never completed).
 */
export async function listSubscriptions(
  db: DatabaseOrTransaction,
  input: { status?: string; limit?: number } = {},
) {
  if (input.status !== undefined && !isSubscriptionStatus(input.status))
    throw new InvalidInputError("Unknown subscription status.", { status: input.status });
  const requested = input.limit !== undefined && Number.isFinite(input.limit) ? Math.trunc(input.limit) : 50;
  const limit = Math.min(Math.max(requested, 1), MAX_LISTED_SUBSCRIPTIONS);
  const rows = await db
    .select({ subscription, email: user.email })
    .from(subscription)
    .innerJoin(user, eq(user.id, subscription.userId))
    .where(input.status ? eq(subscription.status, input.status) : undefined)
    // Rows made in one transaction share their time: the id keeps the order stable between two loads.
    .orderBy(desc(subscription.createdAt), desc(subscription.id))
    .limit(limit);
  return rows.map(({ subscription: row, email }) => ({ ...subscriptionView(row), email }));
}

export type AdminSubscriptionRow = Awaited<ReturnType<typeof listSubscriptions>>[number];

/** A subscription as the admin console shows it (times as ISO text, null when unknown). */
export function subscriptionView(row: typeof subscription.$inferSelect) {
  const iso = (value: Date | null) => value?.toISOString() ?? null;
  return {
    id: row.id,
    userId: row.userId,
    provider: row.provider,
    providerSubscriptionId: row.providerSubscriptionId,
    planId: row.planId,
    status: row.status,
    currentPeriodStart: iso(row.currentPeriodStart),
    currentPeriodEnd: iso(row.currentPeriodEnd),
    cancelAtPeriodEnd: row.cancelAtPeriodEnd,
    canceledAt: iso(row.canceledAt),
    endedAt: iso(row.endedAt),
    scheduledPlanId: row.scheduledPlanId,
    paymentProblem: row.paymentProblem,
    paymentProblemAt: iso(row.paymentProblemAt),
    flaggedReason: row.flaggedReason,
    createdAt: row.createdAt.toISOString(),
  };
}

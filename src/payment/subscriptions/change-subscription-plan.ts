import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import { findPaidPlanOnSale } from "@/catalog/plans";
import { NotFoundError } from "@/credits/errors";
import { LIVE_SUBSCRIPTION_STATUSES, subscription } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { limitPurchases } from "@/limits/rate-limit";
import type { PaymentProvider } from "../types";
import { getSubscriptionSummary, type SubscriptionSummary } from "./get-subscription-summary";
import { oneChangeAtATime } from "./one-change-at-a-time";
import {
  PlanUnavailableError,
  PlanUnchangedError,
  SubscriptionNotChangeableError,
} from "./subscription-errors";

/** The body of PATCH /api/credits/subscription: the plan only; prices and credits come from the catalog. */
export const planChangeRequestSchema = z.object({ planId: z.string().min(1).max(64) }).strict();
export type PlanChangeRequest = z.output<typeof planChangeRequestSchema>;

/** What PATCH /api/credits/subscription answers: the subscription afterwards and what the change did. */
export type PlanChangeAnswer = {
  subscription: SubscriptionSummary | null;
  change:
    | { kind: "changed_now"; invoiceId: string }
    | { kind: "scheduled"; at: string }
    | { kind: "unscheduled" };
};

/**
 * The browser's "change plan" use case (PATCH /api/credits/subscription `{planId}`), the rule
 * "Upgrades and downgrades":
 *
 * 1. The per-user purchase limit: an upgrade charges the card, like a purchase.
 * 2. The plan from the catalog: on sale and paid (the free plan is reached by cancelling), else
 *    PlanUnavailableError.
 * 3. The user's newest live subscription, else NotFoundError (nothing to change; a subscription of another
 *    provider than the one configured is not found either). Only an `active` one changes plan
 *    (SubscriptionNotChangeableError): one not paid up must be paid first, as Stripe's portal asks. The
 *    plan in force with nothing scheduled is PlanUnchangedError.
 * 4. The provider changes it (PaymentProvider.changeSubscriptionPlan): an upgrade is invoiced now (the
 *    prorated difference) and applied only when paid, its extra credits granted by that invoice's
 *    `invoice.paid` (grant-proration-line.ts); a downgrade waits for the period's end; naming the plan in
 *    force takes back a scheduled change. The provider's events update our row (applySubscriptionSnapshot).
 *
 * Errors: RateLimitedError, PlanUnavailableError, NotFoundError, SubscriptionNotChangeableError,
 * PlanUnchangedError, CardDeclinedError or AuthenticationRequiredError (the upgrade's invoice was
 * declined or needs the cardholder to authenticate it: nothing changed),
 * PaymentProviderUnavailableError.
 */
export async function changeSubscriptionPlan(
  db: Database,
  provider: PaymentProvider,
  userId: string,
  request: PlanChangeRequest,
): Promise<PlanChangeAnswer> {
  await limitPurchases(userId);
  const plan = findPaidPlanOnSale(request.planId);
  if (!plan) throw new PlanUnavailableError(request.planId);
  const [row] = await db
    .select()
    .from(subscription)
    .where(and(eq(subscription.userId, userId), inArray(subscription.status, LIVE_SUBSCRIPTION_STATUSES)))
    .orderBy(desc(subscription.createdAt))
    .limit(1);
  if (!row || row.provider !== provider.name) throw new NotFoundError("Subscription");
  if (row.status !== "active" || !row.providerSubscriptionId)
    throw new SubscriptionNotChangeableError({ subscriptionId: row.id, status: row.status });
  if (row.planId === plan.id && !row.scheduledPlanId)
    throw new PlanUnchangedError({ subscriptionId: row.id, planId: plan.id });

  const log = logger.child({ subscriptionId: row.id, userId, fromPlanId: row.planId, planId: plan.id });
  const providerSubscriptionId = row.providerSubscriptionId;
  // After an advance of the same subscription under way (one-change-at-a-time.ts).
  const outcome = await oneChangeAtATime(row.id, () =>
    provider.changeSubscriptionPlan(providerSubscriptionId, plan),
  );
  log.info({ change: outcome.kind }, "subscription plan change");
  // The answer shows what was asked at once. The sandbox's events have said it already; Stripe's
  // `customer.subscription.updated` names a schedule only by id (applySubscriptionSnapshot keeps what is
  // known then) and may come later. A changed_now waits for the events: the plan moves when the invoice is paid.
  // A cancellation written since (DELETE racing this change) wins: it drops any scheduled change, and a
  // plan scheduled over it would promise a switch at a period that never comes.
  if (outcome.kind !== "changed_now")
    await db
      .update(subscription)
      .set({ scheduledPlanId: outcome.kind === "scheduled" ? plan.id : null, updatedAt: sql`now()` })
      .where(and(eq(subscription.id, row.id), eq(subscription.cancelAtPeriodEnd, false)));
  return {
    subscription: await getSubscriptionSummary(db, userId),
    change: outcome.kind === "scheduled" ? { kind: "scheduled", at: outcome.at.toISOString() } : outcome,
  };
}

import { and, desc, eq, inArray } from "drizzle-orm";
import { subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/** What GET /api/credits/subscription answers: times in ISO 8601, null while the provider has not said. */
export type SubscriptionSummary = {
  id: string;
  planId: string;
  status: string;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  /** The plan a change scheduled for the period's end (a downgrade) moves to then; null when none is. */
  scheduledPlanId: string | null;
  /**
   * A payment of the subscription that failed (`payment_failed`) or waits for the customer to authenticate
   * (`action_required`), for the app to tell the user: the invoice, when the provider reported it (ISO
   * 8601) and, for `action_required`, where to complete it (null when the provider gives no page, as in
   * the sandbox: change the card instead). Null when there is none; a paid retry of the invoice lifts it.
   */
  paymentProblem: {
    kind: "payment_failed" | "action_required";
    invoiceId: string;
    at: string;
    actionUrl: string | null;
  } | null;
};

/**
 * Statuses a user is shown, newest first among them. `checkout` (nothing paid or heard yet), `abandoned`
 * and `incomplete_expired` (never paid) are never shown: they are attempts, not subscriptions.
 */
const SHOWN_LIVE = ["incomplete", "trialing", "active", "past_due", "unpaid", "paused"];

/**
 * The user's subscription: the newest live one, else the newest canceled one (its credits may still be
 * running), else null.
 */
export async function getSubscriptionSummary(
  db: DatabaseOrTransaction,
  userId: string,
): Promise<SubscriptionSummary | null> {
  for (const statuses of [SHOWN_LIVE, ["canceled"]]) {
    const [row] = await db
      .select()
      .from(subscription)
      .where(and(eq(subscription.userId, userId), inArray(subscription.status, statuses)))
      .orderBy(desc(subscription.createdAt))
      .limit(1);
    if (row)
      return {
        id: row.id,
        planId: row.planId,
        status: row.status,
        currentPeriodStart: row.currentPeriodStart?.toISOString() ?? null,
        currentPeriodEnd: row.currentPeriodEnd?.toISOString() ?? null,
        cancelAtPeriodEnd: row.cancelAtPeriodEnd,
        scheduledPlanId: row.scheduledPlanId,
        paymentProblem:
          row.paymentProblem && row.paymentProblemInvoiceId && row.paymentProblemAt
            ? {
                kind: row.paymentProblem as "payment_failed" | "action_required",
                invoiceId: row.paymentProblemInvoiceId,
                at: row.paymentProblemAt.toISOString(),
                actionUrl: row.paymentActionUrl,
              }
            : null,
      };
  }
  return null;
}

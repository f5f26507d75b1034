import { and, eq, sql } from "drizzle-orm";
import { type Plan, planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow } from "@/credits/sql-rows";
import { subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import type { SubscriptionRow } from "./lock-subscription";

export type CreditPeriodGrantOutcome = "granted" | "already_granted" | "period_over";

/** The ledger key of one period's grant: the cause (invoice and period start), never a state or a month. */
export function periodGrantKey(invoiceId: string, periodStart: Date): InternalKey {
  return internalKey("subscription-period", invoiceId, Math.floor(periodStart.getTime() / 1000));
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * Grants the credits of one billing period of a paid invoice: `plan.creditsPerMonth` as a lot that expires
 * at the period's end (the invoice line's `period.end`, never a calendar month's), or never for a plan
 * whose rollover is `unlimited`. Call it inside the webhook event's transaction, with the subscription
 * row locked (lockSubscriptionForEvent), so the grant, its row and the event id commit together.
 *
 * Exactly once per (invoice, kind, period start):
 * - the `subscription_period_grant` row is inserted first, `ON CONFLICT DO NOTHING`: a redelivered,
 *   reordered or concurrent `invoice.paid` (under any event id) finds the key taken, waiting for the first
 *   transaction if it is still running, and grants nothing (`already_granted`);
 * - the ledger entry's key (`subscription-period:<invoice>:<start seconds>`) would refuse a second grant
 *   even without the row.
 *
 * A period already over by the database's clock when its invoice is finally paid (a retry that succeeded
 * late) gets its row as `period_over` and no credits: a lot that expired at birth would only add noise,
 * and the check is made before the grant because a refused grant (CK400) would abort the transaction.
 *
 * Credits are `paid` when the invoice took money, `promotional` for a $0 invoice (a 100% coupon).
 * `now` is for tests only (the ledger's clock, see database-clock.ts).
 */
export async function grantCreditPeriod(
  tx: DatabaseOrTransaction,
  input: {
    subscription: SubscriptionRow;
    invoiceId: string;
    providerSubscriptionId: string;
    plan: Plan;
    period: { start: Date; end: Date };
    paidMoney: boolean;
  },
  now?: Date,
): Promise<CreditPeriodGrantOutcome> {
  const { subscription, plan, period, invoiceId } = input;
  const { over } = firstRow<{ over: boolean }>(
    await tx.execute(
      sql`SELECT coalesce(${clockParam(now)}::timestamptz, now()) >= ${period.end.toISOString()}::timestamptz AS over`,
    ),
  );
  const inserted = await tx
    .insert(subscriptionPeriodGrant)
    .values({
      invoiceId,
      kind: "period",
      periodStart: period.start,
      periodEnd: period.end,
      subscriptionId: subscription.id,
      userId: subscription.userId,
      planId: plan.id,
      credits: over ? 0 : plan.creditsPerMonth,
      status: over ? "period_over" : "granted",
    })
    .onConflictDoNothing()
    .returning({ invoiceId: subscriptionPeriodGrant.invoiceId });
  if (inserted.length === 0) return "already_granted";
  if (over) return "period_over";

  const grant = await addCredits(
    tx,
    {
      userId: subscription.userId,
      amount: plan.creditsPerMonth,
      type: "subscription",
      description: `${planName(plan)} plan credits for ${day(period.start)} – ${day(period.end)}`,
      idempotencyKey: periodGrantKey(invoiceId, period.start),
      // Unlimited rollover: the period's credits stay until spent. Otherwise they end with the period.
      ...(plan.rollover.policy === "unlimited" ? {} : { expiresAt: period.end }),
      category: input.paidMoney ? "paid" : "promotional",
      reference: invoiceId,
      metadata: {
        subscriptionId: subscription.id,
        providerSubscriptionId: input.providerSubscriptionId,
        invoiceId,
        planId: plan.id,
        kind: "period",
        periodStart: period.start.toISOString(),
        periodEnd: period.end.toISOString(),
        rollover: plan.rollover.policy,
      },
    },
    now,
  );
  await tx
    .update(subscriptionPeriodGrant)
    .set({ entryId: grant.entryId, lotId: grant.lotId })
    .where(
      and(
        eq(subscriptionPeriodGrant.invoiceId, invoiceId),
        eq(subscriptionPeriodGrant.kind, "period"),
        eq(subscriptionPeriodGrant.periodStart, period.start),
      ),
    );
  return "granted";
}

import { and, eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow } from "@/credits/sql-rows";
import { subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { type InvoicePeriodInput, markGrantRowGranted } from "./grant-credit-period";
import type { SubscriptionRow } from "./lock-subscription";

export type TrialGrantOutcome =
  | "trial_granted"
  | "trial_already_granted"
  | "trial_already_used"
  | "trial_over"
  | "trial_not_in_plan";

/** The ledger key of a trial's grant: the cause, the trial's $0 invoice. */
export function trialGrantKey(invoiceId: string): InternalKey {
  return internalKey("subscription-trial", invoiceId);
}

/**
 * Whether a paid invoice is a trial's: the $0 first invoice (`subscription_create`, nothing paid) of a
 * subscription we offered a trial (`trialOfferedDays`, decided at subscribe time). Stripe makes exactly
 * that invoice when a subscription starts `trialing`: one line at $0 whose period is the trial.
 */
export function isTrialInvoice(invoice: Stripe.Invoice, subscription: SubscriptionRow): boolean {
  return (
    subscription.trialOfferedDays !== null &&
    invoice.billing_reason === "subscription_create" &&
    invoice.amount_paid === 0
  );
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * Grants a trial: the plan's `trial.credits` (never `creditsPerMonth`) as one `promotional` lot that
 * expires when the trial ends (the invoice line's `period.end`). Rollover does not apply to trial credits:
 * the row is kind `trial`, which the carry (roll-into-period.ts) never reads, so what is left of a trial
 * simply expires with it. Nothing of a trial is a purchase (no money was taken, there is no
 * PaymentIntent to refund), so recordInvoicePurchase records nothing for its $0 invoice.
 *
 * Call it in the webhook event's transaction with the subscription row locked (lockSubscriptionForEvent).
 * Exactly once per user ever, by the same pattern as grantCreditPeriod:
 * - the `subscription_period_grant` row (kind `trial`) is inserted first, ON CONFLICT DO NOTHING. Its
 *   primary key (invoice, kind, start) makes a redelivered, reordered or concurrent `invoice.paid` of the
 *   same invoice find it taken (`trial_already_granted`); the unique index on the user's trial row
 *   (subscription_period_grant_one_trial_per_user) makes a trial invoice of any other subscription of the
 *   user find it taken too (`trial_already_used`), a concurrent one waiting for the first to commit;
 * - the ledger entry's key (trialGrantKey) would refuse a second grant of the invoice even without the row.
 *
 * A trial already over by the database's clock when its invoice is applied gets its row as `period_over`
 * with 0 credits (a lot that expired at birth would only add noise); the trial still counts as had.
 * `trial_not_in_plan`: the plan no longer has a trial in the catalog, so there is nothing to grant
 * (logged by the caller). `now` is for tests only.
 */
export async function grantTrialCredits(
  tx: DatabaseOrTransaction,
  input: InvoicePeriodInput,
  now?: Date,
): Promise<TrialGrantOutcome> {
  const { subscription, plan, period, invoiceId } = input;
  if (!plan.trial) return "trial_not_in_plan";
  const { over } = firstRow<{ over: boolean }>(
    await tx.execute(
      sql`SELECT coalesce(${clockParam(now)}::timestamptz, now()) >= ${period.end.toISOString()}::timestamptz AS over`,
    ),
  );
  const [row] = await tx
    .insert(subscriptionPeriodGrant)
    .values({
      invoiceId,
      kind: "trial",
      periodStart: period.start,
      periodEnd: period.end,
      subscriptionId: subscription.id,
      userId: subscription.userId,
      planId: plan.id,
      credits: over ? 0 : plan.trial.credits,
      status: over ? "period_over" : "granted",
    })
    .onConflictDoNothing()
    .returning();
  if (!row) {
    const [taken] = await tx
      .select({ invoiceId: subscriptionPeriodGrant.invoiceId })
      .from(subscriptionPeriodGrant)
      .where(
        and(
          eq(subscriptionPeriodGrant.userId, subscription.userId),
          eq(subscriptionPeriodGrant.kind, "trial"),
        ),
      );
    return taken?.invoiceId === invoiceId ? "trial_already_granted" : "trial_already_used";
  }
  if (over) return "trial_over";

  const grant = await addCredits(
    tx,
    {
      userId: subscription.userId,
      amount: row.credits,
      type: "subscription",
      description: `${planName(plan)} trial credits for ${day(period.start)} – ${day(period.end)}`,
      idempotencyKey: trialGrantKey(invoiceId),
      // Trial credits end with the trial, whatever the plan's rollover: they are never carried.
      expiresAt: period.end,
      category: "promotional",
      reference: invoiceId,
      metadata: {
        subscriptionId: subscription.id,
        providerSubscriptionId: input.providerSubscriptionId,
        invoiceId,
        planId: plan.id,
        kind: "trial",
        periodStart: period.start.toISOString(),
        periodEnd: period.end.toISOString(),
        rollover: "none",
      },
    },
    now,
  );
  await markGrantRowGranted(tx, { invoiceId, kind: "trial", periodStart: period.start }, grant);
  return "trial_granted";
}

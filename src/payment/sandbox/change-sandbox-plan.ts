import { eq, sql } from "drizzle-orm";
import { findPlan, intervalMonths, type Plan, planName } from "@/catalog/plans";
import { creditPeriod } from "@/credits/credit-periods";
import { NotFoundError } from "@/credits/errors";
import { firstRow } from "@/credits/sql-rows";
import { type SandboxInvoiceLine, sandboxSubscription } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import {
  AuthenticationRequiredError,
  CardDeclinedError,
  PlanUnchangedError,
  SubscriptionNotChangeableError,
} from "../subscriptions/subscription-errors";
import type { PlanChangeOutcome } from "../types";
import { createSandboxInvoiceOfLines, ensureSandboxPrice, sandboxPriceById } from "./sandbox-billing";
import { enqueueSandboxEvent } from "./sandbox-events";
import { chargeSandboxInvoice } from "./sandbox-invoice-payment";
import {
  type SandboxPrice,
  type SandboxSubscriptionRow,
  toStripeSubscription,
} from "./sandbox-subscription-events";
import { chargeKeptCard } from "./test-cards";

/** Only a subscription that is paid up changes plan (Stripe's portal asks for the overdue invoice first). */
const CHANGEABLE = new Set(["active"]);

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * When a change from `from` to `to` takes effect, by the rules Stripe's customer portal applies with
 * `proration_behavior: always_invoice`:
 * - `now`: an upgrade (same interval, more credits a month, or a higher price) is invoiced and applied at
 *   once, so the customer gets what they pay for from today; a switch from monthly to yearly resets the
 *   billing cycle now (Stripe starts a new cycle whenever the interval changes);
 * - `period_end`: a downgrade, or a yearly plan moving to a monthly one, waits for the period's end: the
 *   customer keeps what they paid for, and nothing is refunded.
 */
export function planChangeTiming(from: Plan, to: Plan): "now" | "period_end" {
  const fromMonths = intervalMonths(from);
  const toMonths = intervalMonths(to);
  if (fromMonths !== toMonths) return toMonths > fromMonths ? "now" : "period_end";
  const upgrade =
    to.creditsPerMonth > from.creditsPerMonth ||
    (to.creditsPerMonth === from.creditsPerMonth && (to.price?.amount ?? 0) > (from.price?.amount ?? 0));
  return upgrade ? "now" : "period_end";
}

/**
 * An amount prorated by seconds, as Stripe prorates: `amount × remaining / whole`, rounded to whole minor
 * units for each line on its own (so a credit and a charge may each be off by half a cent, never more).
 */
export function prorate(amount: number, remainingSeconds: number, wholeSeconds: number): number {
  return Math.round((amount * remainingSeconds) / wholeSeconds);
}

/**
 * Moves a sandbox subscription to `plan` as Stripe's `subscriptions.update` does with `proration_behavior:
 * always_invoice` and `payment_behavior: pending_if_incomplete`, in one transaction under the
 * subscription's lock, writing the events to the outbox (the caller delivers them after the commit):
 *
 * - The plan in force again while a change is scheduled: the scheduled change is taken back (the schedule
 *   released; `customer.subscription.updated`). The plan in force with nothing scheduled: PlanUnchangedError.
 * - A change for the period's end (planChangeTiming): stored as the pending plan, which replaces any
 *   pending one; `customer.subscription.updated` carries the schedule. The next renewal invoices the new
 *   price (takeScheduledPlanChange); the current period keeps its plan and credits.
 * - A change now: a `subscription_update` invoice, dated the subscription's simulated now (whole seconds),
 *   with a proration line crediting the unused time of the old price and either a proration line charging
 *   the new price for the rest of the period (same interval: the period stays) or, when the interval
 *   changes, the new price's full line for a new cycle starting now. It is charged to the card on file.
 *   Stripe applies the update only once that invoice is paid (`pending_if_incomplete`); the sandbox knows
 *   the kept card's outcome beforehand, so a card that would be declined (CardDeclinedError) or need
 *   authentication (AuthenticationRequiredError) refuses the change before anything is written: the plan, the period and the credits
 *   stay as they were, and no invoice is left open. Paid: the item moves to the new price,
 *   `customer.subscription.updated`, `payment_intent.succeeded` and `invoice.paid` (whose handler grants
 *   an upgrade's extra credits, grant-proration-line.ts) go out through the same outbox as renewals.
 *
 * SubscriptionNotChangeableError when the subscription is not `active`, its period is over (the
 * renewal is due: advance the clock first), or a change for the period's end is asked of a subscription
 * set to cancel then (there is no next period). Returns what was done.
 */
export async function changeSandboxPlan(
  db: Database,
  providerSubscriptionId: string,
  plan: Plan,
): Promise<PlanChangeOutcome> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, providerSubscriptionId))
      .for("update");
    if (!current) throw new NotFoundError("Subscription");
    const context = { subscriptionId: current.subscriptionRowId, status: current.status };
    if (!CHANGEABLE.has(current.status)) throw new SubscriptionNotChangeableError(context);
    const from = findPlan(current.planId);
    if (!from?.price) throw new Error(`sandbox subscription ${current.id} has no paid plan`);
    const price = await sandboxPriceById(tx, current.priceId);

    if (plan.id === current.planId) {
      if (!current.pendingPlanId)
        throw new PlanUnchangedError({ subscriptionId: current.subscriptionRowId, planId: plan.id });
      await setPendingPlan(tx, current, price, null);
      return { kind: "unscheduled" };
    }

    // The subscription's "now": its test clock when that runs ahead of the real one, in whole seconds.
    const { now } = firstRow<{ now: Date | string }>(
      await tx.execute(
        sql`SELECT greatest(date_trunc('second', now()), ${current.clock.toISOString()}::timestamptz) AS now`,
      ),
    );
    const at = new Date(now);
    if (at.getTime() >= current.currentPeriodEnd.getTime())
      throw new SubscriptionNotChangeableError(
        context,
        "This subscription's renewal is due: it can change plan once it has renewed.",
      );

    if (planChangeTiming(from, plan) === "period_end") {
      // A subscription set to cancel has no next period for the change to start in. Stripe refuses a
      // schedule on it too; without this a downgrade racing a cancel left both waiting, and the answer
      // promised a switch at a period that never comes.
      if (current.cancelAtPeriodEnd)
        throw new SubscriptionNotChangeableError(
          context,
          "This subscription ends at the end of its period: there is no next period to change plan in.",
        );
      await ensureSandboxPrice(tx, plan);
      await setPendingPlan(tx, current, price, plan.id);
      return { kind: "scheduled", at: current.currentPeriodEnd };
    }

    const outcome = chargeKeptCard(current.cardBehavior);
    // Stripe leaves such an invoice waiting for the customer and applies nothing: say that, not a decline.
    if (outcome.kind === "requires_action")
      throw new AuthenticationRequiredError({ subscriptionId: current.subscriptionRowId });
    if (outcome.kind !== "succeeded")
      throw new CardDeclinedError(outcome.message, { declineCode: outcome.declineCode });

    const next = await ensureSandboxPrice(tx, plan);
    const intervalChanges = intervalMonths(plan) !== intervalMonths(from);
    const remaining = seconds(current.currentPeriodEnd) - seconds(at);
    const whole = seconds(current.currentPeriodEnd) - seconds(current.currentPeriodStart);
    const rest = { start: seconds(at), end: seconds(current.currentPeriodEnd) };
    // A new interval starts a new billing cycle now (Stripe resets the anchor); otherwise the period stays.
    const period = intervalChanges
      ? creditPeriod(at, 0, intervalMonths(plan))
      : { start: current.currentPeriodStart, end: current.currentPeriodEnd };
    const lines: Omit<SandboxInvoiceLine, "id">[] = [
      {
        amount: -prorate(price.amount, remaining, whole),
        currency: price.currency,
        description: `Unused time on ${planName(from)} after ${day(at)}`,
        priceId: price.priceId,
        planId: price.planId,
        proration: true,
        period: rest,
      },
      intervalChanges
        ? {
            amount: next.amount,
            currency: next.currency,
            description: `1 × ${planName(plan)} (at ${next.amount} ${next.currency} / ${next.interval})`,
            priceId: next.priceId,
            planId: next.planId,
            proration: false,
            period: { start: seconds(period.start), end: seconds(period.end) },
          }
        : {
            amount: prorate(next.amount, remaining, whole),
            currency: next.currency,
            description: `Remaining time on ${planName(plan)} after ${day(at)}`,
            priceId: next.priceId,
            planId: next.planId,
            proration: true,
            period: rest,
          },
    ];

    const [changed] = await tx
      .update(sandboxSubscription)
      .set({
        planId: plan.id,
        priceId: next.priceId,
        pendingPlanId: null,
        ...(intervalChanges
          ? {
              billingCycleAnchor: period.start,
              currentPeriodStart: period.start,
              currentPeriodEnd: period.end,
            }
          : {}),
        metadata: { ...current.metadata, planId: plan.id },
        updatedAt: sql`now()`,
      })
      .where(eq(sandboxSubscription.id, current.id))
      .returning();
    if (!changed) throw new Error("sandbox subscription was not updated");
    const { invoice } = await createSandboxInvoiceOfLines(tx, {
      subscription: changed,
      currency: next.currency,
      lines,
      billingReason: "subscription_update",
      at,
    });
    await enqueueSandboxEvent(
      tx,
      "customer.subscription.updated",
      toStripeSubscription({ ...changed, latestInvoiceId: invoice.id }, next),
      null,
      {
        subscriptionId: changed.id,
        previousAttributes: {
          items: {
            data: [
              {
                price: { id: price.priceId },
                current_period_start: seconds(current.currentPeriodStart),
                current_period_end: seconds(current.currentPeriodEnd),
              },
            ],
          },
          latest_invoice: current.latestInvoiceId,
        },
      },
    );
    // The card's outcome was read above under the same lock: this charge succeeds and pays the invoice.
    const charged = await chargeSandboxInvoice(tx, invoice, changed);
    if (charged.status !== "paid") throw new Error(`sandbox invoice ${invoice.id} was not paid`);
    return { kind: "changed_now", invoiceId: invoice.id };
  });
}

/** Schedules (`planId`) or takes back (null) the change for the period's end, with its updated event. */
async function setPendingPlan(
  tx: DatabaseOrTransaction,
  current: SandboxSubscriptionRow,
  price: SandboxPrice,
  planId: string | null,
): Promise<void> {
  const [updated] = await tx
    .update(sandboxSubscription)
    .set({ pendingPlanId: planId, updatedAt: sql`now()` })
    .where(eq(sandboxSubscription.id, current.id))
    .returning();
  if (!updated) throw new Error("sandbox subscription was not updated");
  const previous = toStripeSubscription(current, price);
  await enqueueSandboxEvent(tx, "customer.subscription.updated", toStripeSubscription(updated, price), null, {
    subscriptionId: updated.id,
    previousAttributes: { schedule: previous.schedule },
  });
}

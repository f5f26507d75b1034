import { and, desc, eq, inArray, lte, ne, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { findPlan, intervalMonths, planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow } from "@/credits/sql-rows";
import { subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import { markGrantRowGranted } from "./grant-credit-period";
import type { PaidInvoiceLine } from "./invoice-line";
import type { SubscriptionRow } from "./lock-subscription";

export type ProrationGrantOutcome =
  | "proration_granted"
  | "proration_already_granted"
  | "proration_period_over"
  | "proration_nothing";

/**
 * The highest monthly credits (creditsPerMonth of their plans) of the period and upgrade grants this
 * subscription was given for the period ending at `periodEnd` by other invoices; 0 when none is known.
 */
async function levelGranted(
  tx: DatabaseOrTransaction,
  subscriptionId: string,
  periodEnd: Date,
  /** This invoice's own rows do not count: a redelivery must find its row taken, not a lower difference. */
  invoiceId: string,
): Promise<number> {
  const rows = await tx
    .select({ planId: subscriptionPeriodGrant.planId })
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.subscriptionId, subscriptionId),
        eq(subscriptionPeriodGrant.periodEnd, periodEnd),
        eq(subscriptionPeriodGrant.status, "granted"),
        inArray(subscriptionPeriodGrant.kind, ["period", "proration"]),
        ne(subscriptionPeriodGrant.invoiceId, invoiceId),
      ),
    );
  return Math.max(0, ...rows.map((row) => findPlan(row.planId)?.creditsPerMonth ?? 0));
}

/** The ledger key of an upgrade's grant: the proration invoice and the start of the prorated time (the cause). */
export function prorationGrantKey(invoiceId: string, from: Date): InternalKey {
  return internalKey("subscription-proration", invoiceId, Math.floor(from.getTime() / 1000));
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * The credits of a paid invoice's proration lines (a plan change mid-period), all lines of one invoice
 * together: Stripe invoices an upgrade with `proration_behavior: always_invoice` as a negative line (the
 * unused time of the old price) and a positive line (the new price for the rest of the period), both over
 * the same [change time, period end).
 *
 * An upgrade (the new price's plan grants more a month) grants the difference for the rest of the period,
 * rounded down, so an upgrade never hands out a credit more than the customer paid for (issue 10, "Upgrades
 * and downgrades"): floor((new.creditsPerMonth − old.creditsPerMonth) × remaining seconds / period seconds).
 * Old and new plan come from the lines' prices; the remaining time from their period; the whole period's
 * start from the base grant of the period those lines end with (or, before that grant is known, the
 * subscription's current period when it ends there). A period that cannot be told is refused with
 * UnknownEventValueError: the event is stored and retried rather than granted from a guess.
 *
 * Exactly once per proration invoice, as a period's grant is: the `subscription_period_grant` row (kind
 * `proration`, keyed by the invoice and the change time) is inserted first, ON CONFLICT DO NOTHING, so a
 * redelivered, reordered or concurrent `invoice.paid` finds it taken (waiting for the first transaction if
 * it still runs); the ledger key (`subscription-proration:<invoice>:<start>`) is the second lock. The lot
 * expires at the period's end, with the period's own credits (roll-into-period.ts counts it as the ending
 * period's). Only a paid invoice reaches here (`invoice.paid`), so a declined upgrade grants nothing.
 *
 * A change made with `proration_behavior: create_prorations` invoices nothing at once: its lines wait as
 * pending invoice items (`invoice_item_details`) and ride on a later invoice, and they grant only when that
 * invoice is paid. Paid while the prorated time still runs (items invoiced mid-period), they grant the
 * difference as above; paid with the next renewal, that time is over and they grant nothing
 * (`period_over`): credits for a period already past would expire at birth, and the new plan's credits
 * arrive with the renewal's own period. Nothing is granted for the change itself (no money yet).
 *
 * Grants nothing (`proration_nothing`, no row): lines that only credit (a switch of interval, whose new
 * price is a full line of its own, or a move to a plan granting no more). A change found over by the
 * database's clock when paid, or worth 0 credits, gets its row as `period_over` with 0 credits. Nothing
 * here ever takes credits: a downgrade keeps the current period's credits until they expire.
 * Call it inside the webhook event's transaction with the subscription row locked. `now` is for tests only.
 */
export async function grantProrationLines(
  tx: DatabaseOrTransaction,
  input: {
    subscription: SubscriptionRow;
    invoice: Stripe.Invoice;
    providerSubscriptionId: string;
    lines: PaidInvoiceLine[];
    paidMoney: boolean;
  },
  now?: Date,
): Promise<ProrationGrantOutcome> {
  const { subscription, invoice } = input;
  const credited = input.lines.filter((line) => line.line.amount < 0);
  const charged = input.lines.filter((line) => line.line.amount > 0);
  if (charged.length === 0) return "proration_nothing";
  const [from] = credited;
  const [to] = charged;
  // One item moving from one price to another is the only change this app makes; anything else (a second
  // item, a quantity change) would need rules of its own, not a guess.
  if (!from || !to || credited.length > 1 || charged.length > 1)
    throw new UnknownEventValueError(
      `Invoice ${invoice.id} has proration lines that are not one plan change.`,
      { invoiceId: invoice.id, credited: credited.length, charged: charged.length },
    );
  if (
    from.period.start.getTime() !== to.period.start.getTime() ||
    from.period.end.getTime() !== to.period.end.getTime() ||
    intervalMonths(from.plan) !== 1 ||
    intervalMonths(to.plan) !== 1
  )
    throw new UnknownEventValueError(
      `Invoice ${invoice.id} prorates between periods or intervals this code does not grant for.`,
      { invoiceId: invoice.id, from: from.plan.id, to: to.plan.id },
    );
  const rest = to.period;
  // The difference is measured from the most this period has already been granted at, not from the plan
  // the lines credit: after a downgrade that took effect at once (the customer portal can prorate one),
  // upgrading back would otherwise grant the period's upper plan a second time. Downgrades never take
  // credits back, so the level a period reached stays reached until the period ends.
  const reached = await levelGranted(tx, subscription.id, rest.end, invoice.id);
  const difference = to.plan.creditsPerMonth - Math.max(from.plan.creditsPerMonth, reached);
  if (difference <= 0) return "proration_nothing";

  const periodStart = await periodStartOf(tx, subscription, rest);
  if (!periodStart)
    throw new UnknownEventValueError(
      `The billing period that invoice ${invoice.id} prorates is not known yet.`,
      { invoiceId: invoice.id, subscriptionId: subscription.id, periodEnd: rest.end.toISOString() },
    );
  const remaining = seconds(rest.end) - seconds(rest.start);
  const whole = seconds(rest.end) - seconds(periodStart);
  // Integers throughout (at most 5,000 × 3·10⁷ < 2⁵³): rounded down once, at the end.
  const credits = Math.floor((difference * remaining) / whole);

  const { over } = firstRow<{ over: boolean }>(
    await tx.execute(
      sql`SELECT coalesce(${clockParam(now)}::timestamptz, now()) >= ${rest.end.toISOString()}::timestamptz AS over`,
    ),
  );
  const nothing = over || credits <= 0;
  const inserted = await tx
    .insert(subscriptionPeriodGrant)
    .values({
      invoiceId: invoice.id,
      kind: "proration",
      periodStart: rest.start,
      periodEnd: rest.end,
      subscriptionId: subscription.id,
      userId: subscription.userId,
      planId: to.plan.id,
      credits: nothing ? 0 : credits,
      status: nothing ? "period_over" : "granted",
    })
    .onConflictDoNothing()
    .returning({ invoiceId: subscriptionPeriodGrant.invoiceId });
  if (inserted.length === 0) return "proration_already_granted";
  if (nothing) return "proration_period_over";

  const grant = await addCredits(
    tx,
    {
      userId: subscription.userId,
      amount: credits,
      type: "subscription",
      description: `${planName(to.plan)} plan credits for the rest of ${day(periodStart)} – ${day(rest.end)} (upgrade from ${planName(from.plan)})`,
      idempotencyKey: prorationGrantKey(invoice.id, rest.start),
      ...(to.plan.rollover.policy === "unlimited" ? {} : { expiresAt: rest.end }),
      category: input.paidMoney ? "paid" : "promotional",
      reference: invoice.id,
      metadata: {
        subscriptionId: subscription.id,
        providerSubscriptionId: input.providerSubscriptionId,
        invoiceId: invoice.id,
        planId: to.plan.id,
        fromPlanId: from.plan.id,
        kind: "proration",
        periodStart: rest.start.toISOString(),
        periodEnd: rest.end.toISOString(),
        rollover: to.plan.rollover.policy,
      },
    },
    now,
  );
  await markGrantRowGranted(tx, { invoiceId: invoice.id, kind: "proration", periodStart: rest.start }, grant);
  return "proration_granted";
}

/**
 * The start of the billing period that ends with `rest`: the base grant of that period (its invoice's
 * line, the provider's own fact), else the subscription's current period as the provider last reported it.
 */
async function periodStartOf(
  tx: DatabaseOrTransaction,
  subscription: SubscriptionRow,
  rest: { start: Date; end: Date },
): Promise<Date | null> {
  const [base] = await tx
    .select({ periodStart: subscriptionPeriodGrant.periodStart })
    .from(subscriptionPeriodGrant)
    .where(
      and(
        eq(subscriptionPeriodGrant.subscriptionId, subscription.id),
        inArray(subscriptionPeriodGrant.kind, ["period", "slot"]),
        eq(subscriptionPeriodGrant.periodEnd, rest.end),
        lte(subscriptionPeriodGrant.periodStart, rest.start),
      ),
    )
    .orderBy(desc(subscriptionPeriodGrant.periodStart))
    .limit(1);
  if (base) return base.periodStart;
  const current = subscription.currentPeriodStart;
  if (
    current &&
    subscription.currentPeriodEnd?.getTime() === rest.end.getTime() &&
    current.getTime() <= rest.start.getTime()
  )
    return current;
  return null;
}

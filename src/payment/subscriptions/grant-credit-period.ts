import { and, eq, sql } from "drizzle-orm";
import { type Plan, planName } from "@/catalog/plans";
import { addCredits } from "@/credits/add-credits";
import { clockParam } from "@/credits/database-clock";
import { type InternalKey, internalKey } from "@/credits/idempotency-keys";
import { firstRow } from "@/credits/sql-rows";
import { subscriptionPeriodGrant } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { latePeriodLotExpiry } from "./late-period-expiry";
import type { SubscriptionRow } from "./lock-subscription";

/** What grants a subscription's credits for a paid invoice's period start from (period, slot or trial). */
export type InvoicePeriodInput = {
  subscription: SubscriptionRow;
  invoiceId: string;
  providerSubscriptionId: string;
  plan: Plan;
  period: { start: Date; end: Date };
};

export type CreditPeriodGrantOutcome =
  | "granted"
  | "granted_late"
  | "already_granted"
  | "scheduled"
  | "stopped";

export type PeriodGrantRow = typeof subscriptionPeriodGrant.$inferSelect;

/** The ledger key of one period's grant: the cause (invoice and period start), never a state or a month. */
export function periodGrantKey(invoiceId: string, periodStart: Date): InternalKey {
  return internalKey("subscription-period", invoiceId, Math.floor(periodStart.getTime() / 1000));
}

/**
 * The ledger key of one yearly slot's grant: the subscription and the slot's start. Keyed by the
 * subscription rather than the invoice, so no path (a second invoice for the same year, a replayed job)
 * can grant one subscription's month twice.
 */
export function slotGrantKey(subscriptionId: string, slotStart: Date): InternalKey {
  return internalKey("subscription-slot", subscriptionId, Math.floor(slotStart.getTime() / 1000));
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/**
 * Grants the credits of one billing period of a paid invoice: `plan.creditsPerMonth` as a lot that expires
 * at the period's end (the invoice line's `period.end`, or a yearly slot's end; never a calendar month's),
 * or never for a plan whose rollover is `unlimited`. Call it inside the webhook event's transaction, with
 * the subscription row locked (lockSubscriptionForEvent), so the grant, its row and the event id commit
 * together.
 *
 * `slot` makes the period one of a yearly line's twelve monthly slots (kind `slot`, its index): a slot
 * that has not started by the database's clock is only recorded, `scheduled`, for the
 * `subscription-credits` job to grant when it comes due (issue-due-slots.ts). Without it the period is a
 * monthly line's (kind `period`).
 *
 * Exactly once per (invoice, kind, period start):
 * - the `subscription_period_grant` row is inserted first, `ON CONFLICT DO NOTHING`: a redelivered,
 *   reordered or concurrent `invoice.paid` (under any event id) finds the key taken, waiting for the first
 *   transaction if it is still running, and grants nothing (`already_granted`);
 * - the ledger entry's key (periodGrantKey, slotGrantKey) would refuse a second grant even without the row.
 *
 * A monthly period already over by the database's clock when its invoice is finally paid (a renewal
 * retried and paid late, or its `invoice.paid` delivered late) is still granted, once, under the same key:
 * the customer paid for it. Its lot expires at the end of the billing period in force when the payment
 * arrives (latePeriodLotExpiry: the following period, or the paid period's length from the payment when the
 * subscription has ended), recorded on the row as `lot_expires_at`, never a lot that expired at birth and
 * never more than the plan's monthly credits (`granted_late`). Such a late period carries nothing in and
 * nothing out (roll-into-period.ts): its credits are the whole of what the invoice bought. The invoice's
 * purchase then has credits to refund (recordInvoicePurchase), so Admin can refund it like any other.
 * A yearly slot already over when its year's invoice is paid (the yearly renewal declined and paid months
 * later, or its `invoice.paid` delivered late) is granted late in the same way, once, under the slot's own
 * key (slotGrantKey: the subscription and the slot's start, so neither the job nor a replay issues it
 * again): the customer paid for the whole year. Its lot expires at the end of the slot in force at payment
 * (`slot.inForce`, the year's own slot containing the payment, else latePeriodLotExpiry's rule), or the
 * slot's own length from the payment when the subscription has ended (`granted_late`).
 * `slot.stopped` records a slot that has come due but whose subscription ended before it started
 * (endedBeforeSlot, issue-due-slots.ts) as `stopped`, 0 credits: cancelling stops the slots not yet issued,
 * whenever their invoice is paid. The clock is read before the grant because a refused grant (CK400)
 * would abort the transaction.
 *
 * Credits are `paid` when the invoice took money, `promotional` for a $0 invoice (a 100% coupon).
 * `now` is for tests only (the ledger's clock, see database-clock.ts).
 */
export async function grantCreditPeriod(
  tx: DatabaseOrTransaction,
  input: InvoicePeriodInput & {
    paidMoney: boolean;
    slot?: { index: number; inForce?: { start: Date; end: Date }; stopped?: boolean };
  },
  now?: Date,
): Promise<CreditPeriodGrantOutcome> {
  const { subscription, plan, period, invoiceId, slot } = input;
  const { over, started } = firstRow<{ over: boolean; started: boolean }>(
    await tx.execute(
      sql`SELECT coalesce(${clockParam(now)}::timestamptz, now()) >= ${period.end.toISOString()}::timestamptz AS over,
                 coalesce(${clockParam(now)}::timestamptz, now()) >= ${period.start.toISOString()}::timestamptz AS started`,
    ),
  );
  // Only a yearly slot waits for its start: a period is granted when its invoice is paid, late or not (a
  // late one lives until the end of the period in force at payment). A slot of a subscription that ended
  // before the slot began is stopped, never granted.
  const status = slot?.stopped && started ? "stopped" : slot && !started ? "scheduled" : "granted";
  const late = over && status === "granted";
  const lotExpiresAt = late ? await latePeriodLotExpiry(tx, subscription, period, now, slot?.inForce) : null;
  const [row] = await tx
    .insert(subscriptionPeriodGrant)
    .values({
      invoiceId,
      kind: slot ? "slot" : "period",
      slotIndex: slot?.index ?? null,
      periodStart: period.start,
      periodEnd: period.end,
      subscriptionId: subscription.id,
      userId: subscription.userId,
      planId: plan.id,
      credits: status === "stopped" ? 0 : plan.creditsPerMonth,
      status,
      lotExpiresAt,
    })
    .onConflictDoNothing()
    .returning();
  if (!row) return "already_granted";
  if (status !== "granted") return status;
  await grantRecordedPeriod(
    tx,
    { row, plan, providerSubscriptionId: input.providerSubscriptionId, paidMoney: input.paidMoney },
    now,
  );
  return late ? "granted_late" : "granted";
}

/**
 * Writes the ledger side of a period row that is to be granted now (a fresh row of grantCreditPeriod, or
 * a `scheduled` slot the job found due): the `subscription` entry and its lot of `row.credits`, expiring
 * at `row.periodEnd`, or at `row.lotExpiresAt` for a period granted after it ended (never for `unlimited`
 * rollover), keyed by periodGrantKey (kind `period`) or slotGrantKey (kind `slot`), then marks the row
 * `granted` with the entry and the lot. The caller holds the subscription's row lock and has checked that
 * the period has started.
 *
 * A row with `lotExpiresAt` was paid late (its invoice was paid after the period ended: description
 * "paid late", metadata `paidLate`), unless `issuedLate` says the invoice was paid in time and the
 * `subscription-credits` job reached the slot only after its month ended (description "issued late",
 * metadata `issuedLate`): the customer did nothing late, and the history must not say they did. Both
 * carry `lotExpiresAt` in the metadata, from which the history says until when the credits are usable.
 * Returns the entry and the lot.
 */
export async function grantRecordedPeriod(
  tx: DatabaseOrTransaction,
  input: {
    row: PeriodGrantRow;
    plan: Plan;
    providerSubscriptionId: string | null;
    paidMoney: boolean;
    issuedLate?: boolean;
  },
  now?: Date,
): Promise<{ entryId: number; lotId: string }> {
  const { row, plan } = input;
  const isSlot = row.kind === "slot";
  const late = row.lotExpiresAt !== null;
  const lateWords = input.issuedLate ? "issued late" : "paid late";
  const grant = await addCredits(
    tx,
    {
      userId: row.userId,
      amount: row.credits,
      type: "subscription",
      description: late
        ? `${planName(plan)} plan credits for ${day(row.periodStart)} – ${day(row.periodEnd)}, ${lateWords}: usable until ${day(row.lotExpiresAt as Date)}`
        : `${planName(plan)} plan credits for ${day(row.periodStart)} – ${day(row.periodEnd)}`,
      idempotencyKey: isSlot
        ? slotGrantKey(row.subscriptionId, row.periodStart)
        : periodGrantKey(row.invoiceId, row.periodStart),
      // Unlimited rollover: the period's credits stay until spent. Otherwise they end with the period.
      // A period paid late ends with the period in force at payment, a slot issued late with the slot in
      // force when the job reached it (row.lotExpiresAt).
      ...(plan.rollover.policy === "unlimited" ? {} : { expiresAt: row.lotExpiresAt ?? row.periodEnd }),
      category: input.paidMoney ? "paid" : "promotional",
      reference: row.invoiceId,
      metadata: {
        subscriptionId: row.subscriptionId,
        providerSubscriptionId: input.providerSubscriptionId,
        invoiceId: row.invoiceId,
        planId: plan.id,
        kind: row.kind,
        ...(isSlot ? { slotIndex: row.slotIndex } : {}),
        periodStart: row.periodStart.toISOString(),
        periodEnd: row.periodEnd.toISOString(),
        rollover: plan.rollover.policy,
        ...(late
          ? {
              [input.issuedLate ? "issuedLate" : "paidLate"]: true,
              lotExpiresAt: (row.lotExpiresAt as Date).toISOString(),
            }
          : {}),
      },
    },
    now,
  );
  await markGrantRowGranted(tx, row, grant);
  return { entryId: grant.entryId, lotId: grant.lotId };
}

/**
 * Marks a grant row (by its key: the invoice, the kind, the period's start) `granted` with the ledger
 * entry and lot that granted it, in the grant's transaction: what Admin, refunds and rollover follow.
 */
export async function markGrantRowGranted(
  tx: DatabaseOrTransaction,
  key: { invoiceId: string; kind: string; periodStart: Date },
  grant: { entryId: number; lotId: string },
): Promise<void> {
  await tx
    .update(subscriptionPeriodGrant)
    .set({ status: "granted", entryId: grant.entryId, lotId: grant.lotId })
    .where(
      and(
        eq(subscriptionPeriodGrant.invoiceId, key.invoiceId),
        eq(subscriptionPeriodGrant.kind, key.kind),
        eq(subscriptionPeriodGrant.periodStart, key.periodStart),
      ),
    );
}

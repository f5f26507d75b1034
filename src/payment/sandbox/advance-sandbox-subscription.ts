import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { findPlan, intervalMonths } from "@/catalog/plans";
import { creditPeriod, creditPeriodIndexAt } from "@/credits/credit-periods";
import { NotFoundError } from "@/credits/errors";
import { expireLotsDueBy } from "@/credits/expire-lots-due-by";
import { firstRow } from "@/credits/sql-rows";
import { sandboxInvoice, sandboxSubscription, subscription } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { getSubscriptionSummary, type SubscriptionSummary } from "../subscriptions/get-subscription-summary";
import { issueDueSlots } from "../subscriptions/issue-due-slots";
import { oneChangeAtATime } from "../subscriptions/one-change-at-a-time";
import { slotAnchorDay, yearlySlots } from "../subscriptions/schedule-yearly-slots";
import { SubscriptionNotAdvanceableError } from "../subscriptions/subscription-errors";
import { subscriptionLotIds } from "../subscriptions/subscription-lot-ids";
import { deliverPendingEventsOfSubscription } from "./deliver-sandbox-events";
import { createSandboxInvoice, sandboxPriceById, takeScheduledPlanChange } from "./sandbox-billing";
import { enqueueSandboxEvent } from "./sandbox-events";
import { chargeSandboxInvoice, retrySandboxInvoice } from "./sandbox-invoice-payment";
import { toStripeSubscription } from "./sandbox-subscription-events";

/** Statuses whose clock can move to a renewal: the subscription has been paid for and has not ended. */
const ADVANCEABLE = new Set(["active", "trialing", "past_due"]);

export type AdvanceResult = {
  subscription: SubscriptionSummary | null;
  /** The renewal's invoice, or null when the subscription ended at the boundary instead. */
  invoice: { id: string; status: string } | null;
  /** The subscription's test clock after the move (ISO 8601). */
  clock: string;
  /**
   * A yearly plan moved to its next month within the paid year: that monthly slot (ISO 8601, `[start,
   * end)`), whose credits were just issued. Null otherwise (a renewal, a retry, an end), where the
   * subscription's current period says what was paid for.
   */
  slot: { start: string; end: string } | null;
};

/**
 * The sandbox's "advance the clock": moves one of the user's sandbox subscriptions to its next renewal
 * (the end of its current period, by Stripe's month-end rule from the anchor) and does there what Stripe
 * does at that moment, so a newcomer sees a month's credits arrive without waiting a month:
 *
 * 1. In one transaction, under the sandbox subscription's lock: the subscription's own credits due by the
 *    new time expire (expireLotsDueBy with subscriptionLotIds: the period's unspent credits end when the
 *    period does); lots of packages, gifts, grants and the Free plan are not judged by this clock at all,
 *    only by the real one. Then either the subscription ends, when
 *    it was set to cancel at the period's end (`customer.subscription.deleted`, no invoice), or the next
 *    period begins: a `subscription_cycle` invoice for it, charged to the kept card, with its events
 *    (`customer.subscription.updated`, `payment_intent.succeeded`, `invoice.paid`) in the outbox.
 * 2. After the commit the subscription's events are delivered through the webhook handlers, so the answer
 *    comes after the renewal's credits (and the rollover) were granted.
 *
 * The renewal's charge follows the card on file (chargeSandboxInvoice): with 0341 it fails and the
 * subscription becomes `past_due` (`invoice.payment_failed`), with 3155 it waits for authentication
 * (`invoice.payment_action_required`); nothing is granted and nothing the user has is touched. Advancing a
 * `past_due` subscription retries its open invoice instead of moving the clock (`invoice` in the answer
 * is that invoice, `paid` when the retry went through and granted the period).
 *
 * A yearly plan is paid once a year but granted monthly (schedule-yearly-slots.ts), so its clock moves one
 * monthly slot at a time: to the next slot's start within the year (due lots expire as above; no invoice
 * and no event, as at Stripe, and `invoice` in the answer is the year's paid invoice), or at the year's
 * end to the renewal as for a monthly plan (a new yearly invoice). Either way the slot that starts at the
 * new clock is then issued through the `subscription-credits` job's own function (issueDueSlots, for this
 * subscription only, at the sandbox's time), so the answer comes after that month's credits arrived.
 *
 * A `trialing` subscription moves to its trial's end (its current period), where the first real invoice
 * (`subscription_cycle`, the plan's full price, for the first period from the trial's end) is charged to
 * the card collected at subscribe time: paid, the subscription becomes `active` and that invoice grants
 * the first period; declined, it becomes `past_due` and nothing is granted, as for a renewal. One set to
 * cancel at the period's end ends at the trial's end instead and is charged nothing; the trial's credits
 * expire then, with their lot.
 *
 * Only the subscription's owner may advance it (anyone else, or an unknown id, gets NotFoundError, so ids
 * cannot be probed). SubscriptionNotAdvanceableError for one that is unpaid or over. The clock never falls
 * behind the real one: a boundary already past moves it to the boundary and expires nothing more than the
 * ledger's own expiry does.
 */
export async function advanceSandboxSubscription(
  db: Database,
  input: { subscriptionId: string; userId: string; webhookSecret: string },
): Promise<AdvanceResult> {
  // One change of a subscription at a time (a second click waits for the first, then moves on from there).
  return oneChangeAtATime(input.subscriptionId, () => advanceOnce(db, input));
}

async function advanceOnce(
  db: Database,
  input: { subscriptionId: string; userId: string; webhookSecret: string },
): Promise<AdvanceResult> {
  const ourId = z.uuid().safeParse(input.subscriptionId);
  const [ours] = ourId.success
    ? await db.select().from(subscription).where(eq(subscription.id, ourId.data))
    : [];
  if (!ours || ours.userId !== input.userId || ours.provider !== "sandbox")
    throw new NotFoundError("Subscription");

  // A past-due subscription owes its open invoice: Stripe retries that invoice before any later period
  // begins, so the advance retries it with the card on file (changed or not) and the clock stays put.
  const [peek] = await db
    .select({
      id: sandboxSubscription.id,
      status: sandboxSubscription.status,
      clock: sandboxSubscription.clock,
    })
    .from(sandboxSubscription)
    .where(eq(sandboxSubscription.subscriptionRowId, ours.id));
  if (peek?.status === "past_due") {
    // A retry racing this one (a card change) may have paid the invoice first: then this advance answers
    // that invoice as it is now instead of moving on to the next period the user did not ask for.
    const retried =
      (await db.transaction((tx) => retrySandboxInvoice(tx, peek.id))) ??
      (await latestInvoiceOf(db, peek.id));
    if (retried) {
      await deliverPendingEventsOfSubscription(db, input.webhookSecret, peek.id);
      // A renewed year paid late: its first slot starts at the sandbox's clock, not the real one.
      await issueSlotsAtClock(db, ours.id, peek.clock);
      logger.info(
        {
          subscriptionId: ours.id,
          userId: ours.userId,
          invoiceId: retried.invoiceId,
          status: retried.status,
        },
        "sandbox: past-due invoice retried",
      );
      return {
        subscription: await getSubscriptionSummary(db, ours.userId),
        invoice: { id: retried.invoiceId, status: retried.status },
        clock: peek.clock.toISOString(),
        slot: null,
      };
    }
  }

  const moved = await db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.subscriptionRowId, ours.id))
      .for("update");
    if (!current) throw new NotFoundError("Subscription");
    const plan = findPlan(current.planId);
    if (!ADVANCEABLE.has(current.status) || !plan)
      throw new SubscriptionNotAdvanceableError({ subscriptionId: ours.id, status: current.status });

    // A yearly plan's next stop is its next monthly slot, until the year's last slot has begun. A trial
    // has no slots: its next stop is its end, where the first year is charged.
    const nextSlot =
      intervalMonths(plan) === 1 || current.status === "trialing"
        ? undefined
        : yearlySlots(
            { start: current.currentPeriodStart, end: current.currentPeriodEnd },
            slotAnchorDay(current.currentPeriodStart, current.billingCycleAnchor),
          ).find((slot) => slot.start.getTime() > current.clock.getTime());
    const boundary = nextSlot?.start ?? current.currentPeriodEnd;
    const { future } = firstRow<{ future: boolean }>(
      await tx.execute(sql`SELECT ${boundary.toISOString()}::timestamptz > now() AS future`),
    );
    // Time passes for this subscription only: its own lots due by the boundary expire, dated the boundary;
    // the user's other lots keep the real clock.
    if (future) await expireLotsDueBy(tx, current.userId, boundary, await subscriptionLotIds(tx, ours.id));

    if (nextSlot) {
      // Mid-year: nothing is billed, nothing is sent; only the clock moves (the slot is issued below).
      await tx
        .update(sandboxSubscription)
        .set({ clock: boundary, updatedAt: sql`now()` })
        .where(eq(sandboxSubscription.id, current.id));
      return { providerSubscriptionId: current.id, invoice: undefined, clock: boundary, slot: nextSlot };
    }
    const price = await sandboxPriceById(tx, current.priceId);

    if (current.cancelAtPeriodEnd) {
      const [ended] = await tx
        .update(sandboxSubscription)
        .set({
          status: "canceled",
          endedAt: boundary,
          canceledAt: current.canceledAt ?? boundary,
          clock: boundary,
          updatedAt: sql`now()`,
        })
        .where(eq(sandboxSubscription.id, current.id))
        .returning();
      if (!ended) throw new Error("sandbox subscription was not updated");
      await enqueueSandboxEvent(
        tx,
        "customer.subscription.deleted",
        toStripeSubscription(ended, price),
        null,
        {
          subscriptionId: ended.id,
        },
      );
      return { providerSubscriptionId: ended.id, invoice: null, clock: boundary };
    }

    // A change scheduled for the period's end (a downgrade) takes effect with the period that begins.
    const renewalPrice = (await takeScheduledPlanChange(tx, current)) ?? price;
    // The next period is the renewal plan's: a yearly plan switched to monthly renews for a month.
    const months = intervalMonths(findPlan(renewalPrice.planId) ?? plan);
    const next = creditPeriod(
      current.billingCycleAnchor,
      creditPeriodIndexAt(current.billingCycleAnchor, current.currentPeriodEnd, months),
      months,
    );
    const [renewed] = await tx
      .update(sandboxSubscription)
      .set({
        currentPeriodStart: next.start,
        currentPeriodEnd: next.end,
        clock: boundary,
        updatedAt: sql`now()`,
      })
      .where(eq(sandboxSubscription.id, current.id))
      .returning();
    if (!renewed) throw new Error("sandbox subscription was not updated");
    const { invoice } = await createSandboxInvoice(tx, {
      subscription: renewed,
      price: renewalPrice,
      period: next,
      billingReason: "subscription_cycle",
      at: boundary,
    });
    await enqueueSandboxEvent(
      tx,
      "customer.subscription.updated",
      toStripeSubscription({ ...renewed, latestInvoiceId: invoice.id }, renewalPrice),
      null,
      {
        subscriptionId: renewed.id,
        previousAttributes: {
          items: {
            data: [
              {
                current_period_start: Math.floor(current.currentPeriodStart.getTime() / 1000),
                current_period_end: Math.floor(current.currentPeriodEnd.getTime() / 1000),
              },
            ],
          },
          latest_invoice: current.latestInvoiceId,
        },
      },
    );
    const charged = await chargeSandboxInvoice(tx, invoice, renewed);
    return {
      providerSubscriptionId: renewed.id,
      invoice: { id: invoice.id, status: charged.status },
      clock: boundary,
    };
  });

  await deliverPendingEventsOfSubscription(db, input.webhookSecret, moved.providerSubscriptionId);
  // A yearly plan's slot that starts at the new clock (the first of a renewed year included).
  await issueSlotsAtClock(db, ours.id, moved.clock);
  // Mid-year the answer names the year's invoice, which paid for the slot just issued.
  const invoice =
    moved.invoice === undefined
      ? await latestInvoiceOf(db, moved.providerSubscriptionId).then((row) =>
          row ? { id: row.invoiceId, status: row.status } : null,
        )
      : moved.invoice;
  logger.info(
    { subscriptionId: ours.id, userId: ours.userId, clock: moved.clock, invoiceId: invoice?.id },
    "sandbox: subscription clock advanced",
  );
  return {
    subscription: await getSubscriptionSummary(db, ours.userId),
    invoice,
    clock: moved.clock.toISOString(),
    slot:
      "slot" in moved && moved.slot
        ? { start: moved.slot.start.toISOString(), end: moved.slot.end.toISOString() }
        : null,
  };
}

/**
 * Issues the subscription's yearly slots due by the sandbox's clock (the job's own issueDueSlots, limited
 * to this subscription): due by `clock` when it is ahead of the database's, else by the database's own (the
 * real job's time). The grants are written at the database's clock either way, as a renewal's `invoice.paid`
 * is: only this subscription's lots expire by its clock (expireLotsDueBy above). Nothing for a monthly
 * plan, which has no slots.
 */
async function issueSlotsAtClock(db: Database, subscriptionId: string, clock: Date): Promise<void> {
  const { ahead } = firstRow<{ ahead: boolean }>(
    await db.execute(sql`SELECT ${clock.toISOString()}::timestamptz > now() AS ahead`),
  );
  await issueDueSlots(db, { subscriptionId, ...(ahead ? { dueBy: clock } : {}) });
}

/** The latest invoice of a sandbox subscription and its status, as stored now. */
async function latestInvoiceOf(
  db: Database,
  providerSubscriptionId: string,
): Promise<{ invoiceId: string; status: string } | null> {
  const [row] = await db
    .select({ invoiceId: sandboxInvoice.id, status: sandboxInvoice.status })
    .from(sandboxSubscription)
    .innerJoin(sandboxInvoice, eq(sandboxInvoice.id, sandboxSubscription.latestInvoiceId))
    .where(eq(sandboxSubscription.id, providerSubscriptionId));
  return row ?? null;
}

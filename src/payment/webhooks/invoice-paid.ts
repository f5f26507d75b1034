import type Stripe from "stripe";
import { intervalMonths } from "@/catalog/plans";
import { logger } from "@/lib/logger";
import {
  adoptExternalSubscription,
  SubscriptionNotAdoptableError,
} from "../subscriptions/adopt-external-subscription";
import { applyCurrentEnd, currentObjectIfYearPaidLate } from "../subscriptions/current-state-for-late-year";
import { grantCreditPeriod } from "../subscriptions/grant-credit-period";
import { grantProrationLines } from "../subscriptions/grant-proration-line";
import { grantTrialCredits, isTrialInvoice } from "../subscriptions/grant-trial-credits";
import { isProrationLine, type PaidInvoiceLine, priceIdOfLine } from "../subscriptions/invoice-line";
import { lockInvoicePurchase, recordInvoicePurchase } from "../subscriptions/invoice-purchase";
import { lockSubscriptionForEvent } from "../subscriptions/lock-subscription";
import { planOfPrice } from "../subscriptions/plan-prices";
import { recordProrationCredits } from "../subscriptions/proration-credits";
import { clearPaymentProblem } from "../subscriptions/record-payment-problem";
import { rollIntoFollowingPeriod, rollIntoPeriod } from "../subscriptions/roll-into-period";
import { scheduleYearlySlots } from "../subscriptions/schedule-yearly-slots";
import { UnknownEventValueError } from "../types";
import { withInvoicePayments } from "./invoice-payments";
import { requirePinnedApiVersion } from "./pinned-api-version";
import type { WebhookHandler } from "./types";

/**
 * The invoice's line items. A webhook's invoice carries the first page of its lines; more would need the
 * provider's API (`invoices.listLineItems`), which handlers cannot reach yet. Rather than grant from a
 * partial list, such an invoice fails (stored and retried): the subscriptions made here have one line.
 */
function linesOf(invoice: Stripe.Invoice): Stripe.InvoiceLineItem[] {
  if (invoice.lines?.has_more)
    throw new Error(`invoice ${invoice.id} has more lines than its event carries; they cannot be read yet`);
  return invoice.lines?.data ?? [];
}

/**
 * `invoice.paid`: the one event that turns a subscription's money into credits. Each base line of the
 * invoice grants its billing period (grantCreditPeriod): keyed by the invoice and the period, so a
 * repeated, reordered or concurrent delivery grants once, and expiring at the line's `period.end`.
 *
 * Decided from the invoice alone, never from the subscription's status (an `invoice.paid` may arrive before
 * the subscription's `updated`, or after its `deleted`): a paid invoice grants its period whatever state
 * the subscription is reported in. Events of other API versions are refused (requirePinnedApiVersion).
 *
 * A subscription started outside the app (no row, no `subscriptionId` in its metadata) is adopted first
 * when it is plainly ours (adopt-external-subscription.ts: a customer the app made, a price of ours, no
 * other live subscription), then granted as any; otherwise the event is refused with
 * SubscriptionNotAdoptableError and stored as a failed webhook with the reason (Admin → Failed webhooks).
 *
 * Outcomes: `not_a_subscription_invoice`, `not_paid`, `unknown_subscription` (metadata naming a row that
 * is not ours to link: nothing to grant to; logged, the row flagged), else each line's `granted` / `granted_late` / `already_granted` (a yearly line's: schedule-yearly-slots.ts), followed by the
 * carry of the previous period's credits where there is one (`rolled_over`, `nothing_to_roll`, `pending`:
 * roll-into-period.ts), and `problem_lifted` when the invoice was the one a payment problem was recorded
 * for (a retry that went through: the app stops telling the user), joined with `+`.
 * A trial's $0 first invoice (isTrialInvoice) grants the plan's trial credits instead, once per user ever
 * (grant-trial-credits.ts: `trial_granted`, `trial_already_granted`, `trial_already_used`, `trial_over`),
 * and no carry (trial credits never roll over); the first full-price invoice at the trial's end grants
 * the first period as any other.
 * A renewal paid after its period ended (a failed renewal retried late, an `invoice.paid` delivered late)
 * follows the late-payment rule: the payment is recorded as the invoice's purchase like any other (so Admin
 * can refund it, and refunds and disputes take back by the same proportional rules), and the period's credits
 * are granted once, under the same invoice-and-period key, as a lot that expires at the end of the billing
 * period in force when the payment arrives, or the paid period's length from the payment when the
 * subscription has ended (`granted_late`, grant-credit-period.ts and late-period-expiry.ts). The customer
 * paid, so they get what they paid for, with time to use it; never a lot already expired, never more than
 * the plan's monthly credits for the invoice. Such a period carries nothing in or out (roll-into-period.ts).
 * A yearly invoice paid late issues every monthly slot whose month has passed at payment, once each, by
 * the same rule (usable until the end of the slot in force at payment), and schedules the rest as usual.
 * Each line goes by its kind: the proration lines (a plan change), together, to grantProrationLines, a yearly plan's line
 * to scheduleYearlySlots (twelve monthly slots), a monthly plan's line to grantCreditPeriod. A line without
 * a price, or with a price of no plan, is refused with UnknownEventValueError rather than granted wrongly
 * or dropped: the event is stored and retried.
 */
export const handleInvoicePaid: WebhookHandler = async (tx, event, context) => {
  requirePinnedApiVersion(event);
  const invoice = await withInvoicePayments(tx, event.data.object as Stripe.Invoice, context);
  const details =
    invoice.parent?.type === "subscription_details" ? invoice.parent.subscription_details : null;
  if (!details) return "not_a_subscription_invoice";
  if (invoice.status !== "paid") return "not_paid";
  const lines = linesOf(invoice);
  const providerSubscriptionId =
    typeof details.subscription === "string" ? details.subscription : details.subscription.id;
  const customerId = typeof invoice.customer === "string" ? invoice.customer : invoice.customer?.id;
  const log = logger.child({ eventId: event.id, invoiceId: invoice.id, providerSubscriptionId });

  // A year paid late decides at once which past months are stopped: the provider's current object, asked
  // before the row is locked, tells an end our row may not know of yet (current-state-for-late-year.ts).
  const current = await currentObjectIfYearPaidLate(tx, { providerSubscriptionId, lines }, context);
  let subscription = await lockSubscriptionForEvent(tx, {
    providerSubscriptionId,
    ourId: details.metadata?.subscriptionId,
    customerId,
  });
  if (!subscription && !details.metadata?.subscriptionId) {
    // Started outside the app (Stripe's Dashboard or API): money was paid, so it is adopted when it is
    // plainly ours, else refused and stored for an operator (SubscriptionNotAdoptableError); never granted
    // from a guess. The provider's current object tells the customer's price (with its lookup key) and
    // state; asked before any row is locked.
    const object = await context?.provider?.().retrieveSubscription(providerSubscriptionId, tx);
    if (!object)
      throw new SubscriptionNotAdoptableError(
        `Subscription ${providerSubscriptionId} was not started by this app and is not adopted: the payment provider does not know it. Nothing was granted for invoice ${invoice.id}.`,
        { providerSubscriptionId, invoiceId: invoice.id, customerId },
      );
    const adoption = await adoptExternalSubscription(tx, object, new Date(event.created * 1000), {
      eventId: event.id,
      invoiceId: invoice.id,
    });
    subscription = adoption.row;
  }
  if (!subscription) {
    log.warn(
      { metadata: details.metadata },
      "invoice.paid for a subscription that is not ours: nothing granted",
    );
    return "unknown_subscription";
  }

  subscription = await applyCurrentEnd(tx, subscription, current, new Date(event.created * 1000));

  // The invoice's purchase, when a refund or dispute recorded it first (purchase-of-payment.ts), is locked
  // before any grant takes the ledger account's lock: the order every purchase path keeps.
  await lockInvoicePurchase(tx, invoice.id);

  const outcomes: string[] = [];
  const paidMoney = invoice.amount_paid > 0;
  // A trialing subscription's $0 first invoice grants the trial's credits, not a period's.
  const trial = isTrialInvoice(invoice, subscription);
  // An upgrade's lines (a credit for the old price, a charge for the new) grant together, after the loop.
  const prorations: PaidInvoiceLine[] = [];
  // The plan of the invoice's largest charge: what its purchase names when no line grants credits.
  let linePlanId: string | undefined;
  let largest = Number.NEGATIVE_INFINITY;
  for (const line of lines) {
    const priceId = priceIdOfLine(line);
    if (!priceId)
      throw new UnknownEventValueError(`Invoice ${invoice.id} has a line without a price.`, {
        invoiceId: invoice.id,
        lineId: line.id,
      });
    const plan = await planOfPrice(tx, priceId);
    if (line.amount > largest) {
      largest = line.amount;
      linePlanId = plan.id;
    }
    const period = { start: new Date(line.period.start * 1000), end: new Date(line.period.end * 1000) };
    const paidLine = { subscription, invoice, line, providerSubscriptionId, plan, period, paidMoney };
    if (isProrationLine(line)) {
      prorations.push(paidLine);
      continue;
    }
    if (trial) {
      const granted = await grantTrialCredits(
        tx,
        { subscription, invoiceId: invoice.id, providerSubscriptionId, plan, period },
        context?.now,
      );
      if (granted === "trial_already_used" || granted === "trial_not_in_plan")
        log.warn(
          { subscriptionId: subscription.id, outcome: granted },
          "trial invoice paid: nothing granted",
        );
      outcomes.push(granted);
      continue;
    }
    if (intervalMonths(plan) !== 1) {
      outcomes.push(await scheduleYearlySlots(tx, paidLine, context?.now));
      continue;
    }
    const granted = await grantCreditPeriod(
      tx,
      { subscription, invoiceId: invoice.id, providerSubscriptionId, plan, period, paidMoney },
      context?.now,
    );
    outcomes.push(granted);
    // After the period's grant, whose expiry of due lots settles the ending period's credits: the carry
    // of what the previous period left unspent, once, when its plan rolls over.
    if (granted === "granted") {
      const rolled = await rollIntoPeriod(tx, subscription, period, context?.now);
      if (rolled !== "no_rollover") outcomes.push(rolled);
      // A period paid late, after the next one was granted: its own carry into that next period, once.
      const onward = await rollIntoFollowingPeriod(tx, subscription, period, context?.now);
      if (onward !== "no_rollover") outcomes.push(`onward_${onward}`);
    }
  }
  // What this invoice's credit lines gave back against earlier invoices, in the same transaction as the
  // upgrade's grant: a refund of those invoices may not pay that money out a second time.
  if (prorations.length > 0) await recordProrationCredits(tx, prorations);
  if (prorations.length > 0)
    outcomes.push(
      await grantProrationLines(
        tx,
        { subscription, invoice, providerSubscriptionId, lines: prorations, paidMoney },
        context?.now,
      ),
    );
  // The invoice as a purchase, so its refunds and disputes take back its credits (invoice-purchase.ts).
  // (Logged, not part of the outcome: the outcome says what the customer got.)
  const purchase = await recordInvoicePurchase(
    tx,
    { subscription, invoice, ...(linePlanId ? { linePlanId } : {}) },
    context?.now,
  );
  // The invoice a payment problem was about is paid now (a retry went through): the user is told no more.
  if (await clearPaymentProblem(tx, subscription.id, invoice.id)) outcomes.push("problem_lifted");
  log.info(
    { subscriptionId: subscription.id, userId: subscription.userId, outcomes, purchase },
    "subscription invoice paid",
  );
  return outcomes.length > 0 ? outcomes.join("+") : "no_lines";
};

/**
 * How many of a purchase's credits refunds and disputes take back, decided from the final facts only: the
 * newest figure or status of each thing Stripe reports, never the order or number of the events that
 * carried them. Any delivery order and any repetition of events therefore ends in the same state. Used by
 * the webhook handlers (src/payment/) to settle a purchase and by `verify` to check every purchase.
 */

/** Refund statuses under which the money is on its way back to the customer, or there already. */
const ACTIVE_REFUND_STATUSES = new Set(["pending", "requires_action", "succeeded"]);

export type RefundFact = { amount: number; status: string; statusAt: Date };

/**
 * The refunded amount of a purchase, in minor units, from
 * - the charge's cumulative `amount_refunded` as of the newest charge event (`chargeRefundedAt`), and
 * - each refund's newest status (`charge.refund.updated`, `refund.created|updated|failed`).
 *
 * A refund that fails after it was issued (status `failed`, or `canceled`) gives the money back to the
 * merchant, so it must give the credits back. The charge's figure is taken to count the refunds that had not
 * failed at its event's time (Stripe's charge shows its current `amount_refunded`, and a failed refund's
 * amount can be refunded again); a refund that failed at or after that time is therefore subtracted from it.
 * Refunds known one by one count in full while active, so the larger of the two views is taken, and the
 * result is kept within 0 and the price.
 */
export function refundedAmount(input: {
  price: number;
  chargeAmountRefunded: number;
  chargeRefundedAt: Date | null;
  refunds: readonly RefundFact[];
}): number {
  let active = 0;
  let failedSinceChargeFigure = 0;
  for (const refund of input.refunds) {
    if (ACTIVE_REFUND_STATUSES.has(refund.status)) active += refund.amount;
    else if (input.chargeRefundedAt === null || refund.statusAt >= input.chargeRefundedAt)
      failedSinceChargeFigure += refund.amount;
  }
  const fromCharge = input.chargeAmountRefunded - failedSinceChargeFigure;
  return Math.min(input.price, Math.max(0, active, fromCharge));
}

/** The order of two statuses of one refund reported at the same second: a failure comes after success. */
export function refundStatusRank(status: string): number {
  if (status === "failed" || status === "canceled") return 3;
  if (status === "succeeded") return 2;
  if (status === "requires_action") return 1;
  return 0;
}

/**
 * Dispute statuses (Stripe API 2026-10-28): funds are withdrawn while a dispute needs a response, is under
 * review, is lost or is being appealed; they come back when it is won. Inquiries (`warning_*`) never move
 * money, and a `prevented` dispute never became a chargeback (a refund, if any, arrives as a refund).
 */
const FUNDS_WITHDRAWN_STATUSES = new Set([
  "needs_response",
  "under_review",
  "lost",
  "appeal_needs_response",
  "appeal_under_review",
]);
const FUNDS_NOT_WITHDRAWN_STATUSES = new Set([
  "won",
  "prevented",
  "warning_needs_response",
  "warning_under_review",
  "warning_closed",
]);
const TERMINAL_DISPUTE_STATUSES = new Set(["won", "lost", "prevented", "warning_closed"]);

/**
 * Whether a dispute event says the funds are withdrawn. `charge.dispute.funds_withdrawn` and
 * `charge.dispute.funds_reinstated` report the money's movement itself; every other dispute event is read
 * from the dispute's `status`. Undefined for a status this code does not know: it decides nothing.
 */
export function disputeFundsWithdrawn(status: string, eventType: string): boolean | undefined {
  if (eventType === "charge.dispute.funds_withdrawn") return true;
  if (eventType === "charge.dispute.funds_reinstated") return false;
  if (FUNDS_WITHDRAWN_STATUSES.has(status)) return true;
  if (FUNDS_NOT_WITHDRAWN_STATUSES.has(status)) return false;
  return undefined;
}

export type DisputeFact = { status: string; eventType: string; at: Date };

/**
 * The tie-break for two dispute facts with the same event time (Stripe's `created` has one-second
 * resolution): a terminal status (won, lost, prevented, warning_closed) wins over a report of money moving,
 * which wins over an open status, which wins over an open inquiry; at equal rank, "withdrawn" wins, so the
 * order is total and every delivery order picks the same fact.
 */
function disputeFactOrder(fact: DisputeFact): [number, number, number] {
  const rank = TERMINAL_DISPUTE_STATUSES.has(fact.status)
    ? 3
    : fact.eventType === "charge.dispute.funds_withdrawn" ||
        fact.eventType === "charge.dispute.funds_reinstated"
      ? 2
      : fact.status.startsWith("warning_")
        ? 0
        : 1;
  return [fact.at.getTime(), rank, disputeFundsWithdrawn(fact.status, fact.eventType) ? 1 : 0];
}

/** True when `candidate` is newer than `current` (or there is no current fact). */
export function isNewerDisputeFact(candidate: DisputeFact, current: DisputeFact | null): boolean {
  if (!current) return true;
  const a = disputeFactOrder(candidate);
  const b = disputeFactOrder(current);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return false;
}

/**
 * How many of a purchase's credits the customer may keep no longer: the refunded share of the price
 * (rounded down, so a customer is never charged credits for a refund they did not get), or all of it
 * while a dispute has withdrawn the funds.
 */
export function clawbackTarget(purchase: {
  credits: number;
  amount: number;
  amountRefunded: number;
  disputed: boolean;
}): number {
  if (purchase.disputed) return purchase.credits;
  return Math.floor((purchase.credits * purchase.amountRefunded) / purchase.amount);
}

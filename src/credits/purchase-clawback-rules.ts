/**
 * How many of a purchase's credits refunds and disputes take back, decided from the final facts only: the
 * newest figure or status of each thing Stripe reports, never the order or number of the events that
 * carried them. Any delivery order and any repetition of events therefore ends in the same state. Used by
 * the webhook handlers (src/payment/) to settle a purchase and by `verify` to check every purchase.
 */

/** Refund statuses under which the money is on its way back to the customer, or there already. */
const ACTIVE_REFUND_STATUSES = new Set(["pending", "requires_action", "succeeded"]);
/** Refund statuses under which the money went back to the merchant: the refund no longer counts. */
const FAILED_REFUND_STATUSES = new Set(["failed", "canceled"]);

/**
 * Whether this code knows a refund status (Stripe API 2026-10-28). An unknown one decides nothing: the
 * event carrying it is failed so that an operator sees it, rather than acknowledged and forgotten.
 */
export function isKnownRefundStatus(status: string): boolean {
  return ACTIVE_REFUND_STATUSES.has(status) || FAILED_REFUND_STATUSES.has(status);
}

/**
 * One refund's newest known facts: its amount and status, the event time of that status, the refund's
 * own `created` time (null when unknown) and the earliest event time it was reported failed (null while
 * it has not failed).
 */
export type RefundFact = {
  amount: number;
  status: string;
  statusAt: Date;
  refundCreatedAt: Date | null;
  failedAt: Date | null;
};

/**
 * The refunded amount of a purchase, in minor units, from
 * - the charge's cumulative `amount_refunded` as of the newest charge event (`chargeRefundedAt`), and
 * - each refund's newest status (`charge.refund.updated`, `refund.created|updated|failed`).
 *
 * A refund that fails after it was issued (status `failed`, or `canceled`) gives the money back to the
 * merchant, so it must give the credits back. Stripe's charge figure counts the refunds that had not failed
 * when it was taken (the charge's `amount_refunded` drops when a refund fails, and the failed amount can be
 * refunded again). So a failed refund is subtracted only from a figure that could include it: one taken at
 * or after the refund was created and before its failure was known. A figure taken at the second of the
 * failure or later already left it out: a charge.refunded event comes from a new refund, made after the
 * failure it may follow within the same second. Refunds known one by one count in full while active, so
 * the larger of the two views is taken, and the result is kept within 0 and the price.
 */
export function refundedAmount(input: {
  price: number;
  chargeAmountRefunded: number;
  chargeRefundedAt: Date | null;
  refunds: readonly RefundFact[];
}): number {
  let active = 0;
  let failedButCounted = 0;
  const figureAt = input.chargeRefundedAt;
  for (const refund of input.refunds) {
    if (ACTIVE_REFUND_STATUSES.has(refund.status)) {
      active += refund.amount;
      continue;
    }
    if (figureAt === null) continue;
    const failedAt = refund.failedAt ?? refund.statusAt;
    const createdBefore = refund.refundCreatedAt === null || refund.refundCreatedAt <= figureAt;
    if (createdBefore && figureAt < failedAt) failedButCounted += refund.amount;
  }
  const fromCharge = input.chargeAmountRefunded - failedButCounted;
  return Math.min(input.price, Math.max(0, active, fromCharge));
}

/** True for a status under which a refund no longer counts (the money went back to the merchant). */
export function isFailedRefundStatus(status: string): boolean {
  return FAILED_REFUND_STATUSES.has(status);
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
/** Whether this code knows a dispute status; an unknown one fails its event (see isKnownRefundStatus). */
export function isKnownDisputeStatus(status: string): boolean {
  return FUNDS_WITHDRAWN_STATUSES.has(status) || FUNDS_NOT_WITHDRAWN_STATUSES.has(status);
}

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

/** One dispute's newest fact with its disputed amount (minor units), as kept per dispute id. */
export type DisputeRecord = DisputeFact & { amount: number };

/**
 * The money disputes have withdrawn, in minor units: the sum of the amounts of the disputes whose newest
 * fact has the funds withdrawn. Each dispute of a charge (an inquiry, then a chargeback under another id)
 * is judged by its own newest fact, so one dispute's closing never hides another's withdrawal.
 */
export function disputedAmount(disputes: readonly DisputeRecord[]): number {
  let total = 0;
  for (const dispute of disputes) {
    if (disputeFundsWithdrawn(dispute.status, dispute.eventType)) total += dispute.amount;
  }
  return total;
}

/**
 * How many of a purchase's credits the customer may keep no longer: the share of the price that went back
 * to the customer, by refunds and by disputes that withdrew the funds (together at most the price),
 * rounded down, so a customer is never charged credits for money they did not get back.
 *
 * Capped at the purchase's credits less those that expired unused from the purchase's own lots (its lot
 * and the lots reinstatements gave back): expired credits have already left the account, so taking them
 * again, from other purchases' credits or as debt, would take them twice.
 */
export function clawbackTarget(purchase: {
  credits: number;
  amount: number;
  amountRefunded: number;
  amountDisputed: number;
  expiredUnused: number;
}): number {
  const gone = Math.min(purchase.amount, purchase.amountRefunded + purchase.amountDisputed);
  const implied = Math.floor((purchase.credits * gone) / purchase.amount);
  return Math.max(0, Math.min(implied, purchase.credits - purchase.expiredUnused));
}

import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { intervalMonths } from "@/catalog/plans";
import { addMonthsClamped } from "@/credits/credit-periods";
import { subscription } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { UnknownEventValueError } from "../types";
import type { WebhookContext } from "../webhooks/types";
import { writeSnapshot } from "./apply-subscription-snapshot";
import { isProrationLine, priceIdOfLine } from "./invoice-line";
import type { SubscriptionRow } from "./lock-subscription";
import { planOfPrice } from "./plan-prices";

/** Statuses after which Stripe never moves a subscription back to live. */
const ENDED_STATUSES = new Set(["canceled", "incomplete_expired"]);

/**
 * The provider's current subscription, asked for before `invoice.paid` locks the row, when the invoice
 * pays a yearly line whose second month has already begun (a year paid late: its renewal declined and
 * paid months later, or the event delivered late). Such an invoice decides at once which past months to
 * issue and which to stop (schedule-yearly-slots.ts: stopped when they began after the subscription
 * ended), and our row may not know of the end yet: its `customer.subscription.deleted` can come after
 * the `invoice.paid` (issue 10: "fetch the current object where the event alone cannot tell"). An
 * invoice paid on time has only its first month due, which the subscription's renewal itself vouches for,
 * so it costs no call.
 *
 * Read without a lock and asked before the row is locked (as customer-subscription-created.ts does), so
 * no row waits on the network. Undefined when no fetch is needed, no provider is at hand, our row already
 * records the end, or the provider does not know the subscription. The sandbox reads its own tables in
 * `tx`. Errors: PaymentProviderUnavailableError (the event is stored and retried, never decided on a
 * stale row).
 */
export async function currentObjectIfYearPaidLate(
  tx: DatabaseOrTransaction,
  input: { providerSubscriptionId: string; lines: Stripe.InvoiceLineItem[] },
  context: WebhookContext | undefined,
): Promise<Stripe.Subscription | undefined> {
  if (!context?.provider) return undefined;
  const now = context.now ?? new Date();
  let late = false;
  for (const line of input.lines) {
    if (isProrationLine(line)) continue;
    const priceId = priceIdOfLine(line);
    if (!priceId) continue;
    // A price of no plan is not decided here: the handler refuses it with its own reason (an outside
    // subscription on a price not ours: adopt-external-subscription.ts), after this look-ahead.
    const plan = await planOfPrice(tx, priceId).catch((error: unknown) => {
      if (error instanceof UnknownEventValueError) return undefined;
      throw error;
    });
    if (!plan || intervalMonths(plan) === 1) continue;
    const start = new Date(line.period.start * 1000);
    if (addMonthsClamped(start, 1).getTime() <= now.getTime()) late = true;
  }
  if (!late) return undefined;
  const [held] = await tx
    .select({ endedAt: subscription.endedAt, status: subscription.status })
    .from(subscription)
    .where(eq(subscription.providerSubscriptionId, input.providerSubscriptionId));
  if (held?.endedAt && ENDED_STATUSES.has(held.status)) return undefined;
  return context.provider().retrieveSubscription(input.providerSubscriptionId, tx);
}

/**
 * Applies the provider's current object (currentObjectIfYearPaidLate) to our locked row when it reports
 * the subscription ended and the row can move there (a terminal state never reopens, and nothing goes
 * back): the whole object is copied (writeSnapshot), as the `customer.subscription.deleted` still to come
 * would, keeping the row's `state_at` so that event, and any newer one, still applies in full. A live
 * object is left to its own events: only the end decides which of a late year's months are stopped.
 * Returns the row as it is now (re-read when changed).
 */
export async function applyCurrentEnd(
  tx: DatabaseOrTransaction,
  row: SubscriptionRow,
  current: Stripe.Subscription | undefined,
  eventAt: Date,
): Promise<SubscriptionRow> {
  if (!current || current.id !== row.providerSubscriptionId) return row;
  // Stripe sets `ended_at` only once a subscription is over; either fact says it ended.
  if (!ENDED_STATUSES.has(current.status) && current.ended_at == null) return row;
  if (row.endedAt && ENDED_STATUSES.has(row.status)) return row;
  const outcome = await writeSnapshot(tx, row, current, row.stateAt ?? eventAt);
  if (outcome !== "applied") return row;
  const [updated] = await tx.select().from(subscription).where(eq(subscription.id, row.id));
  return updated ?? row;
}

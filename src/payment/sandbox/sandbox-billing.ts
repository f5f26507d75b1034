import { createHash, randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { findPlan, intervalMonths, type Plan } from "@/catalog/plans";
import { creditPeriod } from "@/credits/credit-periods";
import { firstRow } from "@/credits/sql-rows";
import type { SandboxInvoiceLine } from "@/db/schema";
import { planPrice, sandboxInvoice, sandboxPaymentIntent, sandboxSubscription } from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { planLookupKey } from "../subscriptions/plan-prices";
import type { StartedSubscription, StartSubscriptionRequest } from "../types";
import { enqueueSandboxEvent, sandboxId } from "./sandbox-events";
import { runSandboxIdempotent } from "./sandbox-idempotency";
import {
  type SandboxInvoiceRow,
  type SandboxPrice,
  type SandboxSubscriptionRow,
  sandboxPriceIdOf,
  toStripeSubscription,
} from "./sandbox-subscription-events";

/**
 * The sandbox customer of a user. Derived from the user's id, so asking twice (or concurrently) gives the
 * same customer, as Stripe's idempotency key `customer:<userId>` would.
 */
export function sandboxCustomerId(userId: string): string {
  return `cus_sbx_${createHash("sha256").update(userId).digest("hex").slice(0, 24)}`;
}

/**
 * The sandbox's price of a plan, made on first use and recorded in plan_price (where webhooks map a
 * line's price back to its plan, exactly as for Stripe's prices). Its id is derived from the lookup key,
 * so concurrent first uses make one price.
 */
export async function ensureSandboxPrice(tx: DatabaseOrTransaction, plan: Plan): Promise<SandboxPrice> {
  if (!plan.price) throw new Error(`plan ${plan.id} has no price`);
  const lookupKey = planLookupKey(plan);
  const priceId = sandboxPriceIdOf(plan);
  const price = {
    priceId,
    planId: plan.id,
    amount: plan.price.amount,
    currency: plan.price.currency,
    interval: plan.interval,
  };
  await tx
    .insert(planPrice)
    .values({ ...price, provider: "sandbox", lookupKey })
    .onConflictDoNothing();
  return price;
}

/** The sandbox price a subscription or line names, as recorded in plan_price. */
export async function sandboxPriceById(tx: DatabaseOrTransaction, priceId: string): Promise<SandboxPrice> {
  const [row] = await tx.select().from(planPrice).where(eq(planPrice.priceId, priceId));
  if (!row) throw new Error(`sandbox price ${priceId} is missing`);
  return {
    priceId: row.priceId,
    planId: row.planId,
    amount: row.amount,
    currency: row.currency,
    interval: row.interval,
  };
}

/**
 * Starts a sandbox subscription the way Stripe does with `payment_behavior: default_incomplete`: the
 * subscription is `incomplete`, its first invoice is open, and that invoice's PaymentIntent waits for the
 * customer's card (POST /api/sandbox/payment-intents/{id}/confirm). Nothing is granted here: only the
 * `invoice.paid` the confirm sends does that.
 *
 * In one transaction: the subscription (anchor = its test clock = the database's now), the first invoice
 * (`subscription_create`, one line for [anchor, anchor + interval) by Stripe's month-end rule), its
 * PaymentIntent (metadata `{userId, subscriptionId, invoiceId}`) and the `customer.subscription.created`
 * event. With `trialDays` (Stripe's `trial_period_days`) the first period is the trial, the billing cycle
 * is anchored on its end and the first invoice is $0: paying it (the card collected) makes the
 * subscription `trialing`, and the first advance charges the plan's price at the trial's end.
 * Idempotent as Stripe's create is, under the key `subscription:<our subscription id>`; past the
 * key's lifetime, a subscription already made for our row is answered again instead of a second one.
 * Returns the ids to deliver the events of and to pay with.
 */
export async function startSandboxSubscription(
  db: Database,
  request: StartSubscriptionRequest,
): Promise<StartedSubscription & { kind: "payment" }> {
  const { plan } = request;
  return runSandboxIdempotent(
    db,
    {
      idempotencyKey: `subscription:${request.subscriptionId}`,
      operation: "POST /v1/subscriptions",
      params: {
        customer: request.customerId,
        plan: plan.id,
        price: plan.price,
        trial_period_days: request.trialDays ?? null,
        metadata: { subscriptionId: request.subscriptionId, userId: request.userId },
      },
    },
    async (tx) => {
      const [existing] = await tx
        .select({ id: sandboxSubscription.id, invoiceId: sandboxSubscription.latestInvoiceId })
        .from(sandboxSubscription)
        .where(eq(sandboxSubscription.subscriptionRowId, request.subscriptionId));
      if (existing) return answerOf(tx, existing.id, existing.invoiceId);

      const price = await ensureSandboxPrice(tx, plan);
      // Whole seconds, as Stripe's timestamps are: the anchor, periods and events then agree to the second.
      const { clock } = firstRow<{ clock: Date | string }>(
        await tx.execute(sql`SELECT date_trunc('second', now()) AS clock`),
      );
      const start = new Date(clock);
      // With a trial, as at Stripe: the first period is the trial itself (whole days from the start), the
      // billing cycle is anchored on the trial's end, and the first invoice is $0.
      const trialDays = request.trialDays ?? 0;
      const trial =
        trialDays > 0 ? { start, end: new Date(start.getTime() + trialDays * 86_400_000) } : undefined;
      const anchor = trial?.end ?? start;
      const period = trial ?? creditPeriod(anchor, 0, intervalMonths(plan));
      const id = sandboxId("sub");
      const metadata = { subscriptionId: request.subscriptionId, userId: request.userId, planId: plan.id };
      const [created] = await tx
        .insert(sandboxSubscription)
        .values({
          id,
          userId: request.userId,
          customerId: request.customerId,
          subscriptionRowId: request.subscriptionId,
          planId: plan.id,
          priceId: price.priceId,
          status: "incomplete",
          billingCycleAnchor: anchor,
          currentPeriodStart: period.start,
          currentPeriodEnd: period.end,
          clock: start,
          metadata,
        })
        .returning();
      if (!created) throw new Error("sandbox subscription was not stored");

      const { invoice, paymentIntent } = trial
        ? // The trial's $0 invoice: confirming its $0 PaymentIntent collects the card (kept for the first
          // real charge at the trial's end), and its invoice.paid grants the trial's credits. A declined
          // card leaves the subscription `incomplete` and grants nothing, as a failed first payment does.
          await createSandboxInvoiceOfLines(tx, {
            subscription: created,
            currency: price.currency,
            billingReason: "subscription_create",
            at: start,
            lines: [
              {
                amount: 0,
                currency: price.currency,
                description: `Trial period for ${price.planId}`,
                priceId: price.priceId,
                planId: price.planId,
                proration: false,
                period: { start: seconds(trial.start), end: seconds(trial.end) },
              },
            ],
          })
        : await createSandboxInvoice(tx, {
            subscription: created,
            price,
            period,
            billingReason: "subscription_create",
            at: start,
          });
      const withInvoice = { ...created, latestInvoiceId: invoice.id };
      await enqueueSandboxEvent(
        tx,
        "customer.subscription.created",
        toStripeSubscription(withInvoice, price),
        null,
        { subscriptionId: id },
      );
      return {
        kind: "payment" as const,
        providerSubscriptionId: id,
        paymentIntentId: paymentIntent.id,
        clientSecret: paymentIntent.clientSecret,
      };
    },
  );
}

/**
 * One finalized (`open`) invoice of a sandbox subscription for one billing period at the price's amount,
 * with the PaymentIntent that pays it (metadata `{userId, subscriptionId, invoiceId}`, our subscription
 * id as Stripe's metadata would carry it). `at` is the subscription's simulated time: the invoice's
 * `created` and finalization. Call it in the transaction that holds the subscription's lock.
 */
export async function createSandboxInvoice(
  tx: DatabaseOrTransaction,
  input: {
    subscription: InvoicedSubscription;
    price: SandboxPrice;
    period: { start: Date; end: Date };
    billingReason: "subscription_create" | "subscription_cycle";
    at: Date;
  },
): Promise<{ invoice: SandboxInvoiceRow; paymentIntent: { id: string; clientSecret: string } }> {
  const { price, period } = input;
  return createSandboxInvoiceOfLines(tx, {
    subscription: input.subscription,
    currency: price.currency,
    billingReason: input.billingReason,
    at: input.at,
    lines: [
      {
        amount: price.amount,
        currency: price.currency,
        description: `1 × ${price.planId} (at ${price.amount} ${price.currency} / ${price.interval})`,
        priceId: price.priceId,
        planId: price.planId,
        proration: false,
        period: { start: seconds(period.start), end: seconds(period.end) },
      },
    ],
  });
}

type InvoicedSubscription = Pick<
  SandboxSubscriptionRow,
  "id" | "userId" | "customerId" | "subscriptionRowId" | "planId"
>;

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/**
 * One finalized (`open`) invoice of a sandbox subscription with the given lines (a period's price, or a
 * plan change's proration lines: `subscription_update`), due their sum, with the PaymentIntent that pays
 * it; it becomes the subscription's latest invoice. A sum below zero is refused: Stripe would put it on the
 * customer's credit balance, which the sandbox's plan changes never need (a downgrade waits for the
 * period's end). Call it in the transaction that holds the subscription's lock.
 */
export async function createSandboxInvoiceOfLines(
  tx: DatabaseOrTransaction,
  input: {
    subscription: InvoicedSubscription;
    currency: string;
    lines: Omit<SandboxInvoiceLine, "id">[];
    billingReason: "subscription_create" | "subscription_cycle" | "subscription_update";
    at: Date;
  },
): Promise<{ invoice: SandboxInvoiceRow; paymentIntent: { id: string; clientSecret: string } }> {
  const { subscription } = input;
  const amountDue = input.lines.reduce((sum, line) => sum + line.amount, 0);
  if (!Number.isInteger(amountDue) || amountDue < 0)
    throw new Error(`a sandbox invoice cannot be due ${amountDue}`);
  const invoiceId = sandboxId("in");
  const paymentIntentId = sandboxId("pi");
  const clientSecret = `${paymentIntentId}_secret_${randomBytes(12).toString("hex")}`;
  await tx.insert(sandboxPaymentIntent).values({
    id: paymentIntentId,
    clientSecret,
    amount: amountDue,
    currency: input.currency,
    status: "requires_payment_method",
    metadata: { userId: subscription.userId, subscriptionId: subscription.subscriptionRowId, invoiceId },
    idempotencyKey: `invoice:${invoiceId}`,
    invoiceId,
  });
  const [invoice] = await tx
    .insert(sandboxInvoice)
    .values({
      id: invoiceId,
      subscriptionId: subscription.id,
      customerId: subscription.customerId,
      billingReason: input.billingReason,
      status: "open",
      currency: input.currency,
      amountDue,
      lines: input.lines.map((line) => ({ id: sandboxId("il"), ...line })),
      paymentIntentId,
      created: seconds(input.at),
      finalizedAt: input.at,
    })
    .returning();
  if (!invoice) throw new Error("sandbox invoice was not stored");
  await tx
    .update(sandboxSubscription)
    .set({ latestInvoiceId: invoiceId })
    .where(eq(sandboxSubscription.id, subscription.id));
  return { invoice, paymentIntent: { id: paymentIntentId, clientSecret } };
}

/**
 * At a renewal, the plan change scheduled for the period's end (a downgrade, PATCH
 * /api/credits/subscription) takes effect, as the second phase of a Stripe subscription schedule does:
 * the subscription's item moves to the new plan's price and the schedule is released. Call it in the
 * renewal's transaction, under the subscription's lock, before the next period is invoiced; the invoice
 * and the `customer.subscription.updated` of the renewal then carry the returned price, and the period's
 * `invoice.paid` grants the new plan's credits. Returns null when no change was scheduled.
 */
export async function takeScheduledPlanChange(
  tx: DatabaseOrTransaction,
  current: Pick<SandboxSubscriptionRow, "id" | "pendingPlanId">,
): Promise<SandboxPrice | null> {
  if (!current.pendingPlanId) return null;
  const plan = findPlan(current.pendingPlanId);
  if (!plan?.price) throw new Error(`the scheduled plan ${current.pendingPlanId} has no price`);
  const price = await ensureSandboxPrice(tx, plan);
  await tx
    .update(sandboxSubscription)
    .set({ planId: plan.id, priceId: price.priceId, pendingPlanId: null, updatedAt: sql`now()` })
    .where(eq(sandboxSubscription.id, current.id));
  return price;
}

async function answerOf(
  tx: DatabaseOrTransaction,
  subscriptionId: string,
  invoiceId: string | null,
): Promise<StartedSubscription & { kind: "payment" }> {
  const [intent] = invoiceId
    ? await tx
        .select({ id: sandboxPaymentIntent.id, clientSecret: sandboxPaymentIntent.clientSecret })
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.invoiceId, invoiceId))
    : [];
  if (!intent) throw new Error(`sandbox subscription ${subscriptionId} has no invoice to pay`);
  return {
    kind: "payment",
    providerSubscriptionId: subscriptionId,
    paymentIntentId: intent.id,
    clientSecret: intent.clientSecret,
  };
}

/**
 * Sets or clears a sandbox subscription's cancellation at the end of its period, as Stripe's
 * `subscriptions.update(id, {cancel_at_period_end})` does: nothing ends now, the period's credits stay,
 * and the next advance ends the subscription instead of renewing it. The change and its
 * `customer.subscription.updated` are written together, under the subscription's lock. A subscription
 * that has ended is left as it is. Returns the sandbox subscription's id (to deliver its events).
 */
export async function setSandboxCancelAtPeriodEnd(
  db: Database,
  providerSubscriptionId: string,
  cancel: boolean,
): Promise<string> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(sandboxSubscription)
      .where(eq(sandboxSubscription.id, providerSubscriptionId))
      .for("update");
    if (!current) throw new Error(`sandbox subscription ${providerSubscriptionId} is missing`);
    if (current.status === "canceled" || current.cancelAtPeriodEnd === cancel) return current.id;
    const [updated] = await tx
      .update(sandboxSubscription)
      .set({
        cancelAtPeriodEnd: cancel,
        canceledAt: cancel ? sql`greatest(now(), ${current.clock.toISOString()}::timestamptz)` : null,
        // A subscription that ends at the period's end has no next period for a scheduled plan change.
        ...(cancel ? { pendingPlanId: null } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(sandboxSubscription.id, current.id))
      .returning();
    if (!updated) throw new Error("sandbox subscription was not updated");
    await enqueueSandboxEvent(
      tx,
      "customer.subscription.updated",
      toStripeSubscription(updated, await sandboxPriceById(tx, updated.priceId)),
      null,
      {
        subscriptionId: updated.id,
        previousAttributes: {
          cancel_at_period_end: current.cancelAtPeriodEnd,
          cancel_at: current.cancelAtPeriodEnd ? Math.floor(current.currentPeriodEnd.getTime() / 1000) : null,
        },
      },
    );
    return updated.id;
  });
}

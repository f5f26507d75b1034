import { and, desc, eq, inArray, isNotNull, isNull, notInArray, sql } from "drizzle-orm";
import { z } from "zod";
import { findPaidPlanOnSale, type Plan } from "@/catalog/plans";
import {
  LIVE_SUBSCRIPTION_STATUSES,
  paymentCustomer,
  subscription,
  subscriptionPeriodGrant,
} from "@/db/schema";
import type { Database, DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";
import { limitPurchases } from "@/limits/rate-limit";
import { PaymentCustomerMissingError, type PaymentProvider } from "../types";
import { ensurePaymentCustomer, replacePaymentCustomer } from "./payment-customers";
import { PlanUnavailableError, SubscriptionExistsError } from "./subscription-errors";

/** The body of POST /api/credits/subscriptions: the plan only; price and credits come from the catalog. */
export const subscriptionRequestSchema = z.object({ planId: z.string().min(1).max(64) }).strict();
export type SubscriptionRequest = z.output<typeof subscriptionRequestSchema>;

/** A started subscription and how the browser pays its first invoice. */
export type StartedSubscriptionAnswer =
  | { subscriptionId: string; checkoutUrl: string; provider: "stripe" }
  | {
      subscriptionId: string;
      paymentIntentId: string;
      clientSecret: string;
      provider: "sandbox";
      /**
       * The trial this subscription starts with (days, and the credits it grants), or null: then the
       * PaymentIntent is the $0 that keeps the card, and the plan's price is charged at the trial's end.
       */
      trial: { days: number; credits: number } | null;
    };

/**
 * The browser's "subscribe to a plan" use case (POST /api/credits/subscriptions):
 *
 * 1. The per-user purchase limit: each subscribe is a call to the provider.
 * 2. The plan from the catalog: on sale and paid (the free plan needs no subscription). A yearly plan's
 *    first invoice is the year's price for a year's period; its credits arrive monthly (schedule-yearly-slots.ts).
 * 3. The user's one customer at the provider (made once, reused).
 * 4. Under the customer row's lock (so two subscribes of one user run one after the other): refused with
 *    SubscriptionExistsError when the user has a live subscription; one still waiting for its first
 *    payment (`checkout` or `incomplete`) of the same plan is answered again instead, so a customer who
 *    reloads the page pays the subscription already started rather than a second one. Else our row,
 *    `checkout`, is written, with `trialOfferedDays` when the plan has a trial and the user never had one
 *    (hasHadTrial): decided here, by the server, once per user ever.
 * 5. The provider starts the subscription (idempotent per our row's id), with the trial when one was
 *    offered (`trialDays`): a Checkout URL (Stripe) or the first invoice's PaymentIntent (the sandbox; $0
 *    for a trial, confirming it keeps the card). Nothing is granted here; `invoice.paid` grants (the
 *    trial's $0 invoice: the trial credits, grant-trial-credits.ts).
 *
 * Before step 4, a first payment the user walked away from (an `incomplete` subscription, a Checkout
 * left open) of another plan is released (releaseUnpaidStarts). A customer the provider no longer has is
 * replaced and the subscribe tried once more.
 *
 * Errors: RateLimitedError, PlanUnavailableError, SubscriptionExistsError,
 * PaymentProviderUnavailableError (the row, if made, is `abandoned`).
 */
export async function startSubscription(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
  request: SubscriptionRequest,
): Promise<StartedSubscriptionAnswer> {
  await limitPurchases(user.id);
  const plan = findPaidPlanOnSale(request.planId);
  if (!plan) throw new PlanUnavailableError(request.planId);
  const customerId = await ensurePaymentCustomer(db, provider, user);
  try {
    return await startWithCustomer(db, provider, user, plan, customerId);
  } catch (error) {
    // A customer the provider no longer has (deleted in Stripe's Dashboard, or an id of the other mode
    // after the keys changed) would refuse every subscribe: made again, and tried once more.
    if (!(error instanceof PaymentCustomerMissingError)) throw error;
    const replaced = await replacePaymentCustomer(db, provider, user, error.customerId);
    return startWithCustomer(db, provider, user, plan, replaced);
  }
}

/** A waiting Checkout row without a session this old was left by a request that died before the provider. */
const STALE_CHECKOUT_MS = 10 * 60 * 1000;

/**
 * Frees the user from a first payment they walked away from when they choose another plan, as Stripe
 * would on its own a day later: an unpaid `incomplete` subscription is ended at the provider
 * (incomplete_expired; its event moves our row), and a Checkout left open is expired there
 * (expireCheckout) and our row abandoned, unless the customer paid it after all (`complete`: the
 * subscription it made stands and the live check below refuses a second). A `checkout` row that never got
 * a session, older than ten minutes, is abandoned too. Choosing the same plan again resumes instead.
 */
async function releaseUnpaidStarts(
  db: Database,
  provider: PaymentProvider,
  userId: string,
  planId: string,
): Promise<void> {
  const waiting = await db
    .select()
    .from(subscription)
    .where(
      and(
        eq(subscription.userId, userId),
        eq(subscription.provider, provider.name),
        inArray(subscription.status, ["incomplete", "checkout"]),
      ),
    );
  for (const row of waiting) {
    if (row.planId === planId) continue;
    if (row.status === "incomplete" && row.providerSubscriptionId) {
      await provider.expireIncompleteSubscription(row.providerSubscriptionId);
      continue;
    }
    if (row.status !== "checkout" || row.providerSubscriptionId) continue;
    if (row.checkoutSessionId) {
      if ((await provider.expireCheckout(row.checkoutSessionId)) === "complete") continue;
    } else if (Date.now() - row.createdAt.getTime() < STALE_CHECKOUT_MS) continue;
    await db
      .update(subscription)
      .set({ status: "abandoned", updatedAt: sql`now()` })
      .where(
        and(
          eq(subscription.id, row.id),
          eq(subscription.status, "checkout"),
          isNull(subscription.providerSubscriptionId),
        ),
      );
  }
}

async function startWithCustomer(
  db: Database,
  provider: PaymentProvider,
  user: { id: string; email: string },
  plan: Plan,
  customerId: string,
): Promise<StartedSubscriptionAnswer> {
  await releaseUnpaidStarts(db, provider, user.id, plan.id);

  const { row, fresh } = await db.transaction(async (tx) => {
    await tx
      .select({ userId: paymentCustomer.userId })
      .from(paymentCustomer)
      .where(and(eq(paymentCustomer.userId, user.id), eq(paymentCustomer.provider, provider.name)))
      .for("update");
    // Live at this provider: a subscription left at another one (the sandbox's, before Stripe's keys were
    // set) can never renew or be cancelled from here, and must not keep the user from subscribing.
    const [live] = await tx
      .select()
      .from(subscription)
      .where(
        and(
          eq(subscription.userId, user.id),
          eq(subscription.provider, provider.name),
          inArray(subscription.status, LIVE_SUBSCRIPTION_STATUSES),
        ),
      )
      .orderBy(desc(subscription.createdAt))
      .limit(1);
    if (live) {
      const awaitingPayment = live.status === "checkout" || live.status === "incomplete";
      if (awaitingPayment && live.planId === plan.id && live.provider === provider.name)
        return { row: live, fresh: false };
      throw new SubscriptionExistsError({ subscriptionId: live.id, status: live.status });
    }
    // Decided under the customer lock, so two subscribes at once cannot both see "never had a trial" and
    // start two; the unique trial grant per user (subscription_period_grant_one_trial_per_user) is the
    // lock that holds even against a replayed or reordered invoice.paid.
    const trialDays = plan.trial && !(await hasHadTrial(tx, user.id)) ? plan.trial.days : null;
    const [created] = await tx
      .insert(subscription)
      .values({
        userId: user.id,
        provider: provider.name,
        customerId,
        planId: plan.id,
        status: "checkout",
        trialOfferedDays: trialDays,
      })
      .returning();
    if (!created) throw new Error("subscription was not written");
    return { row: created, fresh: true };
  });
  const log = logger.child({ subscriptionId: row.id, userId: user.id, planId: plan.id });

  let started: Awaited<ReturnType<PaymentProvider["startSubscription"]>>;
  try {
    started = await provider.startSubscription({
      subscriptionId: row.id,
      userId: user.id,
      customerId,
      plan,
      ...(row.trialOfferedDays ? { trialDays: row.trialOfferedDays } : {}),
    });
  } catch (error) {
    if (fresh) {
      // Nothing was started at the provider: the row must not block the next attempt.
      await db
        .update(subscription)
        .set({ status: "abandoned", updatedAt: sql`now()` })
        .where(and(eq(subscription.id, row.id), eq(subscription.status, "checkout")));
    }
    log.error({ err: error }, "subscription could not be started at the payment provider");
    throw error;
  }

  // The provider's events may have linked the row already (the sandbox delivers `created` while
  // subscribing); only an unlinked row is linked here.
  if (started.kind === "payment") {
    await db
      .update(subscription)
      .set({ providerSubscriptionId: started.providerSubscriptionId, updatedAt: sql`now()` })
      .where(and(eq(subscription.id, row.id), isNull(subscription.providerSubscriptionId)));
    log.info({ providerSubscriptionId: started.providerSubscriptionId }, "subscription started");
    return {
      subscriptionId: row.id,
      paymentIntentId: started.paymentIntentId,
      clientSecret: started.clientSecret,
      provider: "sandbox",
      trial:
        row.trialOfferedDays && plan.trial
          ? { days: row.trialOfferedDays, credits: plan.trial.credits }
          : null,
    };
  }
  await db
    .update(subscription)
    .set({ checkoutSessionId: started.checkoutSessionId, updatedAt: sql`now()` })
    .where(and(eq(subscription.id, row.id), isNull(subscription.checkoutSessionId)));
  log.info({ checkoutSessionId: started.checkoutSessionId }, "subscription checkout started");
  return { subscriptionId: row.id, checkoutUrl: started.checkoutUrl, provider: "stripe" };
}

/** Statuses of a subscription that never got past its first payment: its offered trial was never had. */
const NEVER_STARTED = ["checkout", "abandoned", "incomplete", "incomplete_expired"];

/**
 * Whether the user has had a trial (a trial is once per user ever, on any plan): a trial grant was made
 * for them, or a subscription of theirs that was offered a trial got past its first ($0) payment
 * (trialing, or anything after: its `invoice.paid` may not have been applied yet). A trial offered on a
 * subscription whose card was declined or never given was not had.
 */
export async function hasHadTrial(db: DatabaseOrTransaction, userId: string): Promise<boolean> {
  const [grant] = await db
    .select({ invoiceId: subscriptionPeriodGrant.invoiceId })
    .from(subscriptionPeriodGrant)
    .where(and(eq(subscriptionPeriodGrant.userId, userId), eq(subscriptionPeriodGrant.kind, "trial")))
    .limit(1);
  if (grant) return true;
  const [trialed] = await db
    .select({ id: subscription.id })
    .from(subscription)
    .where(
      and(
        eq(subscription.userId, userId),
        isNotNull(subscription.trialOfferedDays),
        notInArray(subscription.status, NEVER_STARTED),
      ),
    )
    .limit(1);
  return Boolean(trialed);
}

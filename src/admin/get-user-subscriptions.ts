import { desc, eq } from "drizzle-orm";
import {
  creditLot,
  creditPurchase,
  subscription,
  subscriptionPeriodGrant,
  subscriptionRollover,
} from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { subscriptionView } from "./list-subscriptions";

/**
 * Bounds of the answer. A user has few subscriptions, but a yearly plan writes twelve slots a year and a
 * long-lived monthly one a period a month: the page shows the newest and says when older ones exist.
 */
export const USER_SUBSCRIPTIONS_LIMIT = 10;
export const SUBSCRIPTION_GRANTS_LIMIT = 36;
export const SUBSCRIPTION_ROLLOVERS_LIMIT = 24;

/**
 * A user's subscriptions, newest first, each with what it granted: its period grants (one row per paid
 * period, yearly slot, proration or trial, from `subscription_period_grant`) and its rollovers (from
 * `subscription_rollover`), both newest period first. Answers "did this period's credits arrive, from
 * which invoice, and what carried over?" without reading the ledger.
 *
 * Each grant carries the invoice it came from and, where the invoice was recorded as a purchase, its amount
 * (minor units), currency, refunded amount and status; `remaining` is what is left of the grant's lot
 * (null when no lot was written: scheduled, stopped or period over). Credits are integers; times ISO text.
 * `moreGrants` / `moreRollovers` say that older rows exist beyond the bounds above.
 */
export async function getUserSubscriptions(db: DatabaseOrTransaction, userId: string) {
  const subscriptions = await db
    .select()
    .from(subscription)
    .where(eq(subscription.userId, userId))
    .orderBy(desc(subscription.createdAt), desc(subscription.id))
    .limit(USER_SUBSCRIPTIONS_LIMIT);
  // One after another, not Promise.all: a PGlite connection runs one query at a time anyway, and a
  // PostgreSQL pool is not worth draining for an admin page.
  const answer = [];
  for (const row of subscriptions) {
    const grants = await db
      .select({
        grant: subscriptionPeriodGrant,
        remaining: creditLot.remaining,
        invoice: {
          amount: creditPurchase.amount,
          currency: creditPurchase.currency,
          amountRefunded: creditPurchase.amountRefunded,
          status: creditPurchase.status,
        },
      })
      .from(subscriptionPeriodGrant)
      .leftJoin(creditLot, eq(creditLot.id, subscriptionPeriodGrant.lotId))
      .leftJoin(creditPurchase, eq(creditPurchase.id, subscriptionPeriodGrant.purchaseId))
      .where(eq(subscriptionPeriodGrant.subscriptionId, row.id))
      .orderBy(
        desc(subscriptionPeriodGrant.periodStart),
        desc(subscriptionPeriodGrant.createdAt),
        desc(subscriptionPeriodGrant.kind),
      )
      .limit(SUBSCRIPTION_GRANTS_LIMIT + 1);
    const rollovers = await db
      .select()
      .from(subscriptionRollover)
      .where(eq(subscriptionRollover.subscriptionId, row.id))
      .orderBy(desc(subscriptionRollover.intoStart))
      .limit(SUBSCRIPTION_ROLLOVERS_LIMIT + 1);
    answer.push({
      ...subscriptionView(row),
      grants: grants.slice(0, SUBSCRIPTION_GRANTS_LIMIT).map(({ grant, remaining, invoice }) => ({
        invoiceId: grant.invoiceId,
        kind: grant.kind,
        slotIndex: grant.slotIndex,
        planId: grant.planId,
        periodStart: grant.periodStart.toISOString(),
        periodEnd: grant.periodEnd.toISOString(),
        credits: grant.credits,
        status: grant.status,
        remaining: grant.lotId ? remaining : null,
        purchaseId: grant.purchaseId,
        // The left join answers an object of nulls when the invoice was not recorded as a purchase.
        invoice: grant.purchaseId && invoice?.currency ? invoice : null,
        createdAt: grant.createdAt.toISOString(),
      })),
      moreGrants: grants.length > SUBSCRIPTION_GRANTS_LIMIT,
      rollovers: rollovers.slice(0, SUBSCRIPTION_ROLLOVERS_LIMIT).map((rollover) => ({
        intoStart: rollover.intoStart.toISOString(),
        intoEnd: rollover.intoEnd.toISOString(),
        planId: rollover.planId,
        cap: rollover.cap,
        credits: rollover.credits,
        status: rollover.status,
        createdAt: rollover.createdAt.toISOString(),
        settledAt: rollover.settledAt?.toISOString() ?? null,
      })),
      moreRollovers: rollovers.length > SUBSCRIPTION_ROLLOVERS_LIMIT,
    });
  }
  return answer;
}

export type AdminUserSubscription = Awaited<ReturnType<typeof getUserSubscriptions>>[number];

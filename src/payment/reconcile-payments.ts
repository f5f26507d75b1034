import { and, eq, gte, isNotNull, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { creditPurchase, webhookEvent } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { CANCELABLE_PAYMENT_INTENT_STATUSES, type PaymentProvider } from "./types";
import { processWebhookEvent } from "./webhooks/process-webhook-event";

export type ReconcileReport = {
  checked: number;
  granted: number;
  alreadyGranted: number;
  other: Record<string, number>;
};

/**
 * Runs one succeeded PaymentIntent through the same handler as its webhook, under a synthetic event id of
 * its own (`reconcile_<id>`): the grant's idempotency key is the PaymentIntent id, so a payment already
 * credited (by its webhook or an earlier run) is left alone, and running this twice changes nothing.
 * Returns the outcome, `already_granted` when an earlier run granted it, or `failed` when it could not be
 * applied now (logged; the next run tries again). Used by reconcilePayments and by the abandonment of
 * stale purchases when canceling finds the payment went through.
 */
export async function applySucceededPaymentIntent(
  db: Database,
  intent: Stripe.PaymentIntent,
): Promise<string> {
  const event = {
    id: `reconcile_${intent.id}`,
    object: "event",
    type: "payment_intent.succeeded",
    created: Math.floor(Date.now() / 1000),
    livemode: intent.livemode,
    data: { object: intent },
  } as unknown as Stripe.Event;
  let outcome: string;
  try {
    outcome = await processWebhookEvent(db, event);
  } catch (error) {
    // One payment that cannot be applied now (its customer's account locked, the database busy) must
    // not stop the others; the next run tries it again.
    logger.error({ err: error, paymentIntentId: intent.id }, "reconcile: applying a payment failed");
    return "failed";
  }
  // Seen by an earlier run: report what happened then, so a payment that could not be granted keeps
  // showing up instead of passing for "already granted".
  if (outcome === "duplicate") {
    const [recorded] = await db
      .select({ outcome: webhookEvent.outcome })
      .from(webhookEvent)
      .where(eq(webhookEvent.id, event.id));
    outcome = recorded?.outcome.startsWith("granted") ? "already_granted" : (recorded?.outcome ?? outcome);
  }
  if (outcome.startsWith("granted")) {
    // A grant here means the payment's webhook never arrived (or never applied): worth a look.
    logger.warn(
      { paymentIntentId: intent.id, purchaseId: intent.metadata?.purchaseId, outcome },
      "reconcile granted a paid purchase whose webhook had not credited it",
    );
  }
  return outcome;
}

function count(report: ReconcileReport, outcome: string) {
  report.checked++;
  if (outcome.startsWith("granted")) report.granted++;
  else if (outcome.startsWith("already_granted")) report.alreadyGranted++;
  else report.other[outcome] = (report.other[outcome] ?? 0) + 1;
}

/**
 * Grants any succeeded payment whose webhook never arrived (applySucceededPaymentIntent):
 * - every succeeded PaymentIntent created since `since`, as the provider lists them, and
 * - the PaymentIntent of every purchase marked abandoned since `since`, whatever its age: a pay dialog
 *   opened long ago can still be paid until its PaymentIntent is canceled, and its webhook can be lost
 *   like any other. One that is still payable (its cancel at abandonment failed) is canceled again.
 * The jobs run it every 15 minutes over the last 7 days (src/jobs/run-payment-maintenance.ts); operators
 * run it by hand with `credits reconcile --since`.
 */
export async function reconcilePayments(
  db: Database,
  provider: PaymentProvider,
  since: Date,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, granted: 0, alreadyGranted: 0, other: {} };
  const seen = new Set<string>();
  for await (const intent of provider.listSucceededPaymentIntents(since)) {
    seen.add(intent.id);
    count(report, await applySucceededPaymentIntent(db, intent));
  }

  const abandoned = await db
    .select({ id: creditPurchase.id, paymentIntentId: creditPurchase.paymentIntentId })
    .from(creditPurchase)
    .where(
      and(
        eq(creditPurchase.status, "abandoned"),
        eq(creditPurchase.provider, provider.name),
        isNotNull(creditPurchase.paymentIntentId),
        gte(creditPurchase.updatedAt, sql`${since.toISOString()}::timestamptz`),
      ),
    );
  for (const purchase of abandoned) {
    const paymentIntentId = purchase.paymentIntentId;
    if (!paymentIntentId || seen.has(paymentIntentId)) continue;
    try {
      let intent = await provider.retrievePaymentIntent(paymentIntentId);
      if (intent && CANCELABLE_PAYMENT_INTENT_STATUSES.has(intent.status)) {
        intent = await provider.cancelPaymentIntent(paymentIntentId);
      }
      if (intent?.status === "succeeded") count(report, await applySucceededPaymentIntent(db, intent));
    } catch (error) {
      // The provider is unreachable: the next run asks again.
      logger.error(
        { err: error, purchaseId: purchase.id, paymentIntentId },
        "reconcile: checking an abandoned purchase failed",
      );
      report.other.failed = (report.other.failed ?? 0) + 1;
    }
  }
  logger.info({ ...report, since: since.toISOString() }, "reconcile finished");
  return report;
}

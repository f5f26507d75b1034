import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import { webhookEvent } from "@/db/schema";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import type { PaymentProvider } from "./types";
import { processWebhookEvent } from "./webhooks/process-webhook-event";

export type ReconcileReport = {
  checked: number;
  granted: number;
  alreadyGranted: number;
  other: Record<string, number>;
};

/**
 * Grants any succeeded payment whose webhook never arrived. Each succeeded PaymentIntent is run through
 * the same handler as its webhook, under a synthetic event id of its own: the grant's idempotency key is
 * the PaymentIntent id, so a payment already credited (by its webhook or an earlier run) is left alone
 * and running this twice changes nothing. The jobs run it every 15 minutes over the last 7 days
 * (src/jobs/run-payment-maintenance.ts); operators run it by hand with `credits reconcile --since`.
 */
export async function reconcilePayments(
  db: Database,
  provider: PaymentProvider,
  since: Date,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, granted: 0, alreadyGranted: 0, other: {} };
  for await (const intent of provider.listSucceededPaymentIntents(since)) {
    report.checked++;
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
      report.other.failed = (report.other.failed ?? 0) + 1;
      continue;
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
      report.granted++;
      // A grant here means the payment's webhook never arrived (or never applied): worth a look.
      logger.warn(
        { paymentIntentId: intent.id, purchaseId: intent.metadata?.purchaseId, outcome },
        "reconcile granted a paid purchase whose webhook had not credited it",
      );
    } else if (outcome.startsWith("already_granted")) report.alreadyGranted++;
    else report.other[outcome] = (report.other[outcome] ?? 0) + 1;
  }
  logger.info({ ...report, since: since.toISOString() }, "reconcile finished");
  return report;
}

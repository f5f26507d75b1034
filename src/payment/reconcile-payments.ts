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
 * and running this twice changes nothing.
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
    let outcome = await processWebhookEvent(db, event);
    // Seen by an earlier run: report what happened then, so a payment that could not be granted keeps
    // showing up instead of passing for "already granted".
    if (outcome === "duplicate") {
      const [recorded] = await db
        .select({ outcome: webhookEvent.outcome })
        .from(webhookEvent)
        .where(eq(webhookEvent.id, event.id));
      outcome = recorded?.outcome.startsWith("granted") ? "already_granted" : (recorded?.outcome ?? outcome);
    }
    if (outcome.startsWith("granted")) report.granted++;
    else if (outcome.startsWith("already_granted")) report.alreadyGranted++;
    else report.other[outcome] = (report.other[outcome] ?? 0) + 1;
  }
  logger.info({ ...report, since: since.toISOString() }, "reconcile finished");
  return report;
}

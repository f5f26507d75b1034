import { randomBytes } from "node:crypto";
import { and, eq, gte } from "drizzle-orm";
import type Stripe from "stripe";
import { CreditsError, NotFoundError } from "@/credits/errors";
import { sandboxPaymentIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import { webhookSigningSecret } from "../payment-config";
import type { CreatedPaymentIntent, CreatePaymentIntentRequest, PaymentProvider } from "../types";
import { deliverSandboxEvent, toStripeCharge, toStripePaymentIntent } from "./sandbox-events";

export function sandboxId(prefix: string): string {
  return `${prefix}_sbx_${randomBytes(12).toString("hex")}`;
}

/** PaymentIntents kept in the app's own database, shaped and behaving like Stripe's test mode. */
export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = "sandbox" as const;

  constructor(
    private readonly db: Database,
    private readonly webhookSecret?: string,
  ) {}

  async createPaymentIntent(request: CreatePaymentIntentRequest): Promise<CreatedPaymentIntent> {
    const id = sandboxId("pi");
    // Same idempotency contract as Stripe: the same key returns the PaymentIntent created first.
    await this.db
      .insert(sandboxPaymentIntent)
      .values({
        id,
        clientSecret: `${id}_secret_${randomBytes(12).toString("hex")}`,
        amount: request.amount,
        currency: request.currency,
        status: "requires_payment_method",
        metadata: request.metadata,
        idempotencyKey: request.idempotencyKey,
      })
      .onConflictDoNothing({ target: sandboxPaymentIntent.idempotencyKey });
    const [intent] = await this.db
      .select()
      .from(sandboxPaymentIntent)
      .where(eq(sandboxPaymentIntent.idempotencyKey, request.idempotencyKey));
    if (!intent) throw new Error("sandbox PaymentIntent was not stored");
    return { id: intent.id, clientSecret: intent.clientSecret };
  }

  async *listSucceededPaymentIntents(since: Date): AsyncIterable<Stripe.PaymentIntent> {
    const rows = await this.db
      .select()
      .from(sandboxPaymentIntent)
      .where(and(eq(sandboxPaymentIntent.status, "succeeded"), gte(sandboxPaymentIntent.createdAt, since)));
    for (const row of rows) yield toStripePaymentIntent(row);
  }

  /** Refunds like Stripe: all that is left by default, never more than was paid; then the charge.refunded event. */
  async refundPayment(request: { paymentIntentId: string; amount?: number; idempotencyKey: string }) {
    const intent = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .select()
        .from(sandboxPaymentIntent)
        .where(eq(sandboxPaymentIntent.id, request.paymentIntentId))
        .for("update");
      if (!row) throw new NotFoundError("PaymentIntent");
      if (row.status !== "succeeded")
        throw new CreditsError("refund_not_possible", "Only a succeeded payment can be refunded.");
      const refundable = row.amount - row.amountRefunded;
      const amount = request.amount ?? refundable;
      if (amount <= 0 || amount > refundable) {
        throw new CreditsError("refund_not_possible", `At most ${refundable} can still be refunded.`);
      }
      const [updated] = await tx
        .update(sandboxPaymentIntent)
        .set({ amountRefunded: row.amountRefunded + amount })
        .where(eq(sandboxPaymentIntent.id, row.id))
        .returning();
      if (!updated) throw new NotFoundError("PaymentIntent");
      return updated;
    });
    await deliverSandboxEvent(
      this.db,
      this.webhookSecret ?? webhookSigningSecret(),
      "charge.refunded",
      toStripeCharge(intent),
    );
    return { refundId: sandboxId("re") };
  }
}

import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { sandboxPaymentIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import type { CreatedPaymentIntent, CreatePaymentIntentRequest, PaymentProvider } from "../types";

export function sandboxId(prefix: string): string {
  return `${prefix}_sbx_${randomBytes(12).toString("hex")}`;
}

/** PaymentIntents kept in the app's own database, shaped and behaving like Stripe's test mode. */
export class SandboxPaymentProvider implements PaymentProvider {
  readonly name = "sandbox" as const;

  constructor(private readonly db: Database) {}

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
}

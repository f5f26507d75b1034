import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { CreditsError, NotFoundError } from "@/credits/errors";
import { sandboxPaymentIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import { webhookVerifier } from "../stripe/stripe-client";
import { receiveWebhook } from "../webhooks/receive-webhook";
import { sandboxId } from "./sandbox-provider";
import { cardOutcome } from "./test-cards";

export type SandboxConfirmResult =
  | { status: "succeeded"; paymentIntentId: string }
  | {
      status: "requires_payment_method";
      paymentIntentId: string;
      error: { code: "card_declined"; declineCode: string; message: string };
    };

export class InvalidCardError extends CreditsError<"invalid_card"> {
  constructor(message: string) {
    super("invalid_card", message);
  }
}

/** The API version the sandbox's events claim, matching the SDK's types. */
const SANDBOX_API_VERSION = "2025-01-01";

type IntentRow = typeof sandboxPaymentIntent.$inferSelect;

function toStripePaymentIntent(intent: IntentRow): Stripe.PaymentIntent {
  const succeeded = intent.status === "succeeded";
  return {
    id: intent.id,
    object: "payment_intent",
    amount: intent.amount,
    amount_received: succeeded ? intent.amount : 0,
    currency: intent.currency,
    status: intent.status,
    metadata: intent.metadata,
    livemode: false,
    created: Math.floor(intent.createdAt.getTime() / 1000),
    latest_charge: succeeded ? `ch_sbx_${intent.id.slice(7)}` : null,
    last_payment_error: intent.lastError
      ? {
          type: "card_error",
          code: intent.lastError.code,
          decline_code: intent.lastError.decline_code,
          message: intent.lastError.message,
        }
      : null,
  } as unknown as Stripe.PaymentIntent;
}

/**
 * Confirms a sandbox PaymentIntent with a test card, the way Stripe's test mode would, then delivers the
 * resulting event — signed with the sandbox's webhook secret — through the same verification and handler
 * code as POST /api/webhooks/stripe, before answering. Only the purchase's owner may confirm it.
 */
export async function confirmSandboxPayment(
  db: Database,
  input: { paymentIntentId: string; userId: string; cardNumber: string; webhookSecret: string },
): Promise<SandboxConfirmResult> {
  const [intent] = await db
    .select()
    .from(sandboxPaymentIntent)
    .where(eq(sandboxPaymentIntent.id, input.paymentIntentId));
  // Someone else's PaymentIntent is reported exactly like a missing one, so ids cannot be probed.
  if (!intent || intent.metadata.userId !== input.userId) throw new NotFoundError("PaymentIntent");
  if (intent.status === "succeeded") return { status: "succeeded", paymentIntentId: intent.id };
  if (intent.status === "canceled")
    throw new CreditsError("payment_intent_unexpected_state", "This payment was canceled.");

  const outcome = cardOutcome(input.cardNumber);
  if (outcome.kind === "invalid") throw new InvalidCardError(outcome.message);

  const lastError =
    outcome.kind === "declined"
      ? { code: "card_declined", decline_code: outcome.declineCode, message: outcome.message }
      : null;
  const [updated] = await db
    .update(sandboxPaymentIntent)
    .set({
      status: outcome.kind === "succeeded" ? "succeeded" : "requires_payment_method",
      lastError,
      updatedAt: sql`now()`,
    })
    .where(eq(sandboxPaymentIntent.id, intent.id))
    .returning();
  if (!updated) throw new NotFoundError("PaymentIntent");

  const event = {
    id: sandboxId("evt"),
    object: "event",
    api_version: SANDBOX_API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_sbx_${randomBytes(8).toString("hex")}`, idempotency_key: null },
    type: outcome.kind === "succeeded" ? "payment_intent.succeeded" : "payment_intent.payment_failed",
    data: { object: toStripePaymentIntent(updated) },
  };
  const rawBody = JSON.stringify(event);
  const signature = webhookVerifier.webhooks.generateTestHeaderString({
    payload: rawBody,
    secret: input.webhookSecret,
  });
  await receiveWebhook(db, { rawBody, signature, secret: input.webhookSecret });

  if (outcome.kind === "succeeded") return { status: "succeeded", paymentIntentId: intent.id };
  return {
    status: "requires_payment_method",
    paymentIntentId: intent.id,
    error: { code: "card_declined", declineCode: outcome.declineCode, message: outcome.message },
  };
}

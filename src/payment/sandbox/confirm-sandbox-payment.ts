import { eq, sql } from "drizzle-orm";
import { CreditsError, NotFoundError } from "@/credits/errors";
import { sandboxPaymentIntent } from "@/db/schema";
import type { Database } from "@/db/types";
import { deliverSandboxEvent, toStripePaymentIntent } from "./sandbox-events";
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

  await deliverSandboxEvent(
    db,
    input.webhookSecret,
    outcome.kind === "succeeded" ? "payment_intent.succeeded" : "payment_intent.payment_failed",
    toStripePaymentIntent(updated),
  );

  if (outcome.kind === "succeeded") return { status: "succeeded", paymentIntentId: intent.id };
  return {
    status: "requires_payment_method",
    paymentIntentId: intent.id,
    error: { code: "card_declined", declineCode: outcome.declineCode, message: outcome.message },
  };
}

import type Stripe from "stripe";
import type { Database } from "@/db/types";
import { webhookVerifier } from "../stripe/stripe-client";
import { WebhookSignatureError } from "../types";
import { processVerifiedEvent } from "./process-webhook-event";

/** Stripe's default: a signature older than five minutes is refused, which stops replays. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function verifyWebhook(rawBody: string, signature: string | null, secret: string): Stripe.Event {
  if (!signature) throw new WebhookSignatureError("Missing Stripe-Signature header.");
  try {
    return webhookVerifier.webhooks.constructEvent(rawBody, signature, secret, SIGNATURE_TOLERANCE_SECONDS);
  } catch (error) {
    throw new WebhookSignatureError("The webhook signature is invalid or too old.", error);
  }
}

/**
 * The one entry point for payment events, used by POST /api/webhooks/stripe and by the sandbox:
 * verify the raw body's signature, then apply the event exactly once. A failure after verification is
 * stored for an operator (see processVerifiedEvent) and rethrown.
 */
export async function receiveWebhook(
  db: Database,
  input: { rawBody: string; signature: string | null; secret: string },
): Promise<{ eventId: string; outcome: string }> {
  const event = verifyWebhook(input.rawBody, input.signature, input.secret);
  const outcome = await processVerifiedEvent(db, event, input.rawBody);
  return { eventId: event.id, outcome };
}

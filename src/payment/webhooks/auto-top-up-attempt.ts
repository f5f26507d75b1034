import type Stripe from "stripe";
import { settleAttemptOfPaymentIntent } from "@/auto-top-up/settle-attempt";
import type { WebhookHandler } from "./types";

/**
 * A PaymentIntent handler that also settles the auto top-up attempt the PaymentIntent charges, in the same
 * transaction, after the purchase was handled (its credits come only from the purchase's grant). Whichever
 * comes first, the worker's answer from the provider or this event, settles the attempt; the other finds it
 * settled (src/auto-top-up/settle-attempt.ts). Other PaymentIntents are untouched and their outcome is
 * the handler's; an attempt's adds `+auto_top_up:<status>`.
 */
export function withAutoTopUpAttempt(handler: WebhookHandler): WebhookHandler {
  return async (tx, event, context) => {
    const outcome = await handler(tx, event, context);
    const status = await settleAttemptOfPaymentIntent(tx, event.data.object as Stripe.PaymentIntent);
    return status ? `${outcome}+auto_top_up:${status}` : outcome;
  };
}

import { codedError } from "@/credits/failures";
import { getDb } from "@/db/client";
import { webhookSigningSecret } from "@/payment/payment-config";
import { processVerifiedEvent } from "@/payment/webhooks/process-webhook-event";
import { verifyWebhook } from "@/payment/webhooks/receive-webhook";
import { defineRoute } from "@/server/define-route";
import { classifyError, errorResponse, jsonError } from "@/server/http-errors";
import { jsonResponse } from "@/server/json-response";

/**
 * Stripe's events are a few kilobytes (a PaymentIntent, a charge, a dispute); this endpoint is open to
 * anyone until the signature is checked, so an unsigned gigabyte must not be read into memory first.
 */
const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

/**
 * Stripe's webhook endpoint. The signature is checked on the raw body before anything is read or
 * written: a missing, invalid or stale signature answers 400. 2xx is answered only after the event's
 * effects have committed. Any failure after verification answers 5xx, never 4xx, whatever the error: a
 * validly signed event refused because of our own state must be retried (Stripe retries non-2xx answers
 * for three days, https://docs.stripe.com/webhooks#retries), and the retry is safe because every event
 * applies at most once. The failure is logged at error level and stored for Admin → Failed webhooks.
 */
async function receiveStripeEvent(request: Request): Promise<Response> {
  let rawBody: string;
  try {
    // Bounded by maxBodyBytes below before this handler runs.
    rawBody = await request.text();
  } catch (error) {
    return errorResponse(error, { path: "/api/webhooks/stripe" });
  }
  let event: ReturnType<typeof verifyWebhook>;
  try {
    event = verifyWebhook(rawBody, request.headers.get("stripe-signature"), webhookSigningSecret());
  } catch (error) {
    // By its code, not its class: the error may come from another copy of the payment modules (`npm start`).
    const coded = codedError(error);
    if (coded?.code === "invalid_signature") return jsonError(400, coded.code, coded.message);
    return errorResponse(error, { path: "/api/webhooks/stripe" });
  }
  try {
    const outcome = await processVerifiedEvent(await getDb(), event, rawBody);
    return jsonResponse({ received: true, outcome });
  } catch (error) {
    return verifiedEventFailure(error);
  }
}

/**
 * The answer to a verified event that could not be applied (already logged and stored): the database's
 * 503s as they are, anything else, even an error that would be a 4xx on another route, a retryable 500.
 */
function verifiedEventFailure(error: unknown): Response {
  const classified = classifyError(error);
  if (classified.status >= 500) {
    return jsonError(classified.status, classified.code, classified.message, { retryable: true });
  }
  return jsonError(500, "webhook_processing_failed", "The event could not be applied; it will be retried.", {
    retryable: true,
  });
}

/** POST /api/webhooks/stripe: see receiveStripeEvent. */
export default defineRoute({
  method: "POST",
  path: "/api/webhooks/stripe",
  maxBodyBytes: MAX_WEBHOOK_BODY_BYTES,
  handler: receiveStripeEvent,
});

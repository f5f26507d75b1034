import { getDb } from "@/db/client";
import { webhookSigningSecret } from "@/payment/payment-config";
import { WebhookSignatureError } from "@/payment/types";
import { processWebhookEvent } from "@/payment/webhooks/process-webhook-event";
import { verifyWebhook } from "@/payment/webhooks/receive-webhook";
import { errorResponse, jsonError } from "@/server/http-errors";
import { jsonResponse } from "@/server/json-response";
import { readTextBody } from "@/server/request";

/**
 * Stripe's events are a few kilobytes (a PaymentIntent, a charge, a dispute); this endpoint is open to
 * anyone until the signature is checked, so an unsigned gigabyte must not be read into memory first.
 */
const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

/**
 * Stripe's webhook endpoint. The signature is checked on the raw body before anything is read or
 * written. 2xx is answered only after the event's effects have committed; any failure answers 5xx so
 * Stripe retries, and the retry is safe because every event applies at most once.
 */
export async function POST(request: Request): Promise<Response> {
  let rawBody: string;
  try {
    rawBody = await readTextBody(request, MAX_WEBHOOK_BODY_BYTES);
  } catch (error) {
    return errorResponse(error, { path: "/api/webhooks/stripe" });
  }
  let event: ReturnType<typeof verifyWebhook>;
  try {
    event = verifyWebhook(rawBody, request.headers.get("stripe-signature"), webhookSigningSecret());
  } catch (error) {
    if (error instanceof WebhookSignatureError) return jsonError(400, error.code, error.message);
    return errorResponse(error, { path: "/api/webhooks/stripe" });
  }
  try {
    const outcome = await processWebhookEvent(await getDb(), event);
    return jsonResponse({ received: true, outcome });
  } catch (error) {
    return errorResponse(error, { path: "/api/webhooks/stripe", eventId: event.id, eventType: event.type });
  }
}

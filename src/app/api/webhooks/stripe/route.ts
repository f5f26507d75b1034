import { getDb } from "@/db/client";
import { webhookSigningSecret } from "@/payment/payment-config";
import { WebhookSignatureError } from "@/payment/types";
import { processWebhookEvent } from "@/payment/webhooks/process-webhook-event";
import { verifyWebhook } from "@/payment/webhooks/receive-webhook";
import { errorResponse, jsonError } from "@/server/http-errors";

/**
 * Stripe's webhook endpoint. The signature is checked on the raw body before anything is read or
 * written. 2xx is answered only after the event's effects have committed; any failure answers 5xx so
 * Stripe retries, and the retry is safe because every event applies at most once.
 */
export async function POST(request: Request): Promise<Response> {
  const rawBody = await request.text();
  let event: ReturnType<typeof verifyWebhook>;
  try {
    event = verifyWebhook(rawBody, request.headers.get("stripe-signature"), webhookSigningSecret());
  } catch (error) {
    if (error instanceof WebhookSignatureError) return jsonError(400, error.code, error.message);
    return errorResponse(error, { path: "/api/webhooks/stripe" });
  }
  try {
    const outcome = await processWebhookEvent(await getDb(), event);
    return Response.json({ received: true, outcome });
  } catch (error) {
    return errorResponse(error, { path: "/api/webhooks/stripe", eventId: event.id, eventType: event.type });
  }
}

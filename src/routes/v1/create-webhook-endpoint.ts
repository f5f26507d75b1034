import { createWebhookEndpoint } from "@/outbound/create-webhook-endpoint";
import { defineRoute } from "@/server/define-route";
import { withApiMutation } from "@/server/with-api-key";
import { recordApiUse } from "@/service-api/record-api-use";
import { createdWebhookEndpointSchema, createWebhookEndpointBodySchema } from "@/service-api/webhook-schemas";

/**
 * POST /api/v1/webhook-endpoints: registers a receiver of outbound events. The answer carries the signing
 * secret, once; a retry with the same Idempotency-Key gets the same answer (and so the same endpoint).
 */
export default defineRoute({
  method: "POST",
  path: "/api/v1/webhook-endpoints",
  scope: "admin",
  operation: {
    summary: "Create a webhook endpoint",
    description:
      "Registers a URL (http or https) that receives the chosen event types, signed per Standard Webhooks. The answer's `secret` (`whsec_...`) is shown only here: keep it to verify deliveries. Events written from now on are delivered to it.",
    body: createWebhookEndpointBodySchema,
    ok: { status: 201, schema: createdWebhookEndpointSchema },
    errors: [400, 401],
  },
  handler: withApiMutation<Record<string, never>, typeof createWebhookEndpointBodySchema>(
    createWebhookEndpointBodySchema,
    async ({ tx, caller, body }) => {
      const endpoint = await createWebhookEndpoint(tx, body);
      await recordApiUse(tx, caller, "webhook_endpoint.create", null, {
        endpointId: endpoint.id,
        url: endpoint.url,
        eventTypes: endpoint.eventTypes,
      });
      return { status: 201, body: { ...endpoint, createdAt: endpoint.createdAt.toISOString() } };
    },
  ),
});

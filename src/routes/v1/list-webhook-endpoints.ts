import { listWebhookEndpoints } from "@/outbound/list-webhook-endpoints";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { withApiKey } from "@/server/with-api-key";
import { webhookEndpointListSchema } from "@/service-api/webhook-schemas";

/** GET /api/v1/webhook-endpoints: every endpoint, newest first, without secrets. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/webhook-endpoints",
  scope: "admin",
  operation: {
    summary: "List webhook endpoints",
    description: "Every endpoint, newest first. Secrets are never listed (they are shown once, at creation).",
    ok: { status: 200, schema: webhookEndpointListSchema },
    errors: [401],
  },
  handler: withApiKey(async ({ db }) => {
    const items = await listWebhookEndpoints(db);
    return jsonResponse({
      items: items.map((item) => ({ ...item, createdAt: item.createdAt.toISOString() })),
    });
  }),
});

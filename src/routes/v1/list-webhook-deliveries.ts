import { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { queryIntegerSchema } from "@/lib/strict-input";
import { listWebhookDeliveries } from "@/outbound/list-webhook-deliveries";
import { defineRoute } from "@/server/define-route";
import { jsonResponse } from "@/server/json-response";
import { readQuery } from "@/server/request";
import { withApiKey } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { webhookDeliveryListSchema } from "@/service-api/webhook-schemas";

const querySchema = z.object({ limit: queryIntegerSchema({ min: 1, max: 200 }, 50) }).strict();

/** GET /api/v1/webhook-endpoints/{endpointId}/deliveries: the newest deliveries with their last attempts. */
export default defineRoute({
  method: "GET",
  path: "/api/v1/webhook-endpoints/{endpointId}/deliveries",
  scope: "admin",
  operation: {
    summary: "List an endpoint's deliveries",
    description:
      "The newest deliveries to this endpoint, newest first, each with its status (`pending`, `delivered`, `failed`) and its latest attempts (HTTP status or error, the first 1,000 characters of the answer, duration).",
    query: z.object({
      limit: z
        .number()
        .int()
        .min(1)
        .max(200)
        .default(50)
        .optional()
        .meta({ description: "Deliveries to list." }),
    }),
    ok: { status: 200, schema: webhookDeliveryListSchema },
    errors: [400, 401, 404],
  },
  handler: withApiKey<{ endpointId: string }>(async ({ request, db, params }) => {
    const query = readQuery(request, querySchema);
    if (!isUuid(params.endpointId)) throw new NotFoundError("Webhook endpoint");
    const items = await listWebhookDeliveries(db, { endpointId: params.endpointId, limit: query.limit });
    return jsonResponse({
      items: items.map(({ endpointId: _endpoint, lastStatusCode: _code, lastError: _error, ...item }) => ({
        ...item,
        nextAttemptAt: item.nextAttemptAt.toISOString(),
        deliveredAt: item.deliveredAt?.toISOString() ?? null,
        createdAt: item.createdAt.toISOString(),
        recentAttempts: item.recentAttempts.map((attempt) => ({
          ...attempt,
          attemptedAt: attempt.attemptedAt.toISOString(),
        })),
      })),
    });
  }),
});

import { NotFoundError } from "@/credits/errors";
import { deleteWebhookEndpoint } from "@/outbound/delete-webhook-endpoint";
import { defineRoute } from "@/server/define-route";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { recordApiUse } from "@/service-api/record-api-use";
import { deletedWebhookEndpointSchema, emptyBodySchema } from "@/service-api/webhook-schemas";

/** DELETE /api/v1/webhook-endpoints/{endpointId}: removes an endpoint and its queue. */
export default defineRoute({
  method: "DELETE",
  path: "/api/v1/webhook-endpoints/{endpointId}",
  scope: "admin",
  operation: {
    summary: "Delete a webhook endpoint",
    description:
      "Removes the endpoint, its pending deliveries and their attempt log: nothing more is sent to it. The body may be empty or `{}`.",
    ok: { status: 200, schema: deletedWebhookEndpointSchema },
    errors: [400, 401, 404],
  },
  handler: withApiMutation<{ endpointId: string }, typeof emptyBodySchema>(
    emptyBodySchema,
    async ({ tx, caller, params }) => {
      if (!isUuid(params.endpointId)) throw new NotFoundError("Webhook endpoint");
      await deleteWebhookEndpoint(tx, params.endpointId);
      await recordApiUse(tx, caller, "webhook_endpoint.delete", null, { endpointId: params.endpointId });
      return { status: 200, body: { id: params.endpointId, deleted: true } };
    },
  ),
});

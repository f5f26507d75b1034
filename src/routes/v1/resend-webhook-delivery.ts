import { NotFoundError } from "@/credits/errors";
import { resendWebhookDelivery } from "@/outbound/resend-webhook-delivery";
import { defineRoute } from "@/server/define-route";
import { withApiMutation } from "@/server/with-api-key";
import { isUuid } from "@/service-api/is-uuid";
import { recordApiUse } from "@/service-api/record-api-use";
import { emptyBodySchema, resentWebhookDeliverySchema } from "@/service-api/webhook-schemas";

/** POST /api/v1/webhook-deliveries/{deliveryId}/resend: queues a delivery again, due now. */
export default defineRoute({
  method: "POST",
  path: "/api/v1/webhook-deliveries/{deliveryId}/resend",
  scope: "admin",
  operation: {
    summary: "Resend a delivery",
    description:
      "Queues the delivery again, due now, with three more days of retries: the same event with the same `webhook-id`, so the receiver can drop it if it already has it. Later pending events of the same account wait for it. The body may be empty or `{}`.",
    ok: { status: 200, schema: resentWebhookDeliverySchema },
    errors: [400, 401, 404],
  },
  handler: withApiMutation<{ deliveryId: string }, typeof emptyBodySchema>(
    emptyBodySchema,
    async ({ tx, caller, params }) => {
      if (!isUuid(params.deliveryId)) throw new NotFoundError("Webhook delivery");
      const resent = await resendWebhookDelivery(tx, params.deliveryId);
      await recordApiUse(tx, caller, "webhook_delivery.resend", null, resent);
      return { status: 200, body: { ...resent, status: "pending" } };
    },
  ),
});

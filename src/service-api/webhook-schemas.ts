import { z } from "zod";
// Schemas with `meta({ id })` become named entries of `components.schemas` in the OpenAPI document.
import { OUTBOUND_EVENT_TYPES } from "@/outbound/event-types";
import { webhookEndpointInputSchema } from "@/outbound/schemas";

export const createWebhookEndpointBodySchema = webhookEndpointInputSchema.meta({
  id: "CreateWebhookEndpointRequest",
  description: `Event types: ${OUTBOUND_EVENT_TYPES.map((type) => `\`${type}\``).join(", ")}.`,
});

const endpointFields = {
  id: z.uuid(),
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(z.string()),
  enabled: z.boolean(),
  createdAt: z.string().meta({ description: "ISO 8601." }),
};

export const webhookEndpointSchema = z.object(endpointFields).meta({ id: "WebhookEndpoint" });

export const createdWebhookEndpointSchema = z
  .object({
    ...endpointFields,
    secret: z.string().meta({
      description:
        "The signing secret (`whsec_...`, Standard Webhooks). Shown in this answer only: store it in the receiver.",
    }),
  })
  .meta({ id: "CreatedWebhookEndpoint" });

export const webhookEndpointListSchema = z
  .object({ items: z.array(webhookEndpointSchema) })
  .meta({ id: "WebhookEndpointList" });

export const emptyBodySchema = z.object({}).strict().meta({ id: "EmptyRequest" });

export const deletedWebhookEndpointSchema = z
  .object({ id: z.uuid(), deleted: z.literal(true) })
  .meta({ id: "DeletedWebhookEndpoint" });

export const webhookDeliveryListSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.uuid(),
        eventId: z.string(),
        eventType: z.string(),
        userId: z.string(),
        status: z.enum(["pending", "delivered", "failed"]),
        attempts: z.number().int(),
        nextAttemptAt: z.string(),
        deliveredAt: z.string().nullable(),
        createdAt: z.string(),
        recentAttempts: z.array(
          z.object({
            attemptedAt: z.string(),
            statusCode: z.number().int().nullable(),
            error: z.string().nullable(),
            responseBody: z.string().nullable(),
            durationMs: z.number().int(),
          }),
        ),
      }),
    ),
  })
  .meta({ id: "WebhookDeliveryList" });

export const resentWebhookDeliverySchema = z
  .object({ deliveryId: z.uuid(), eventId: z.string(), status: z.literal("pending") })
  .meta({ id: "ResentWebhookDelivery" });

export const lowBalanceThresholdBodySchema = z
  .object({
    threshold: z.number().int().min(1).max(1_000_000_000).nullable().meta({
      description:
        "Credits; `balance.low` is sent when the available balance falls below it. null turns it off.",
    }),
  })
  .strict()
  .meta({ id: "LowBalanceThresholdRequest" });

export const lowBalanceThresholdResponseSchema = z
  .object({ userId: z.string(), threshold: z.number().int().nullable(), available: z.number().int() })
  .meta({ id: "LowBalanceThreshold" });

import { webhookEndpoint } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { type WebhookEndpointInput, webhookEndpointInputSchema } from "./schemas";
import { newWebhookSecret } from "./webhook-secret";

export type WebhookEndpointView = {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
};

export type CreatedWebhookEndpoint = WebhookEndpointView & { secret: string };

/**
 * Registers a receiver of outbound events (admin console, `POST /api/v1/webhook-endpoints`). Throws a
 * ZodError on an invalid URL (http and https only) or an unknown event type. The answer is the only place
 * the signing secret (`whsec_...`) is ever shown: the operator copies it into the receiver, which verifies
 * each delivery with it (Standard Webhooks). Events written from the commit on are delivered to it.
 */
export async function createWebhookEndpoint(
  db: DatabaseOrTransaction,
  input: WebhookEndpointInput,
): Promise<CreatedWebhookEndpoint> {
  const parsed = webhookEndpointInputSchema.parse(input);
  const [row] = await db
    .insert(webhookEndpoint)
    .values({
      url: parsed.url,
      description: parsed.description ?? null,
      eventTypes: parsed.eventTypes,
      secret: newWebhookSecret(),
    })
    .returning();
  if (!row) throw new Error("webhook endpoint was not written");
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.eventTypes,
    enabled: row.enabled,
    createdAt: row.createdAt,
    secret: row.secret,
  };
}

import { desc } from "drizzle-orm";
import { webhookEndpoint } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import type { WebhookEndpointView } from "./create-webhook-endpoint";

/** Every endpoint, newest first, without its secret (shown once, at creation). */
export async function listWebhookEndpoints(db: DatabaseOrTransaction): Promise<WebhookEndpointView[]> {
  return db
    .select({
      id: webhookEndpoint.id,
      url: webhookEndpoint.url,
      description: webhookEndpoint.description,
      eventTypes: webhookEndpoint.eventTypes,
      enabled: webhookEndpoint.enabled,
      createdAt: webhookEndpoint.createdAt,
    })
    .from(webhookEndpoint)
    .orderBy(desc(webhookEndpoint.createdAt), desc(webhookEndpoint.id));
}

import { eq } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { webhookEndpoint } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Deletes an endpoint with its queue and its attempt log (its deliveries cascade): nothing more is sent to
 * it. The events stay for the other endpoints. Throws NotFoundError for an unknown id.
 */
export async function deleteWebhookEndpoint(db: DatabaseOrTransaction, endpointId: string): Promise<void> {
  const deleted = await db
    .delete(webhookEndpoint)
    .where(eq(webhookEndpoint.id, endpointId))
    .returning({ id: webhookEndpoint.id });
  if (deleted.length === 0) throw new NotFoundError("Webhook endpoint", { endpointId });
}

import { eq, sql } from "drizzle-orm";
import { NotFoundError } from "@/credits/errors";
import { webhookEndpoint } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Turns an endpoint on or off. A disabled endpoint gets no new events (none are written for it); what was
 * already queued for it stays queued and is delivered as usual, so turning it off never loses an event a
 * change already committed. Throws NotFoundError for an unknown id.
 */
export async function setWebhookEndpointEnabled(
  db: DatabaseOrTransaction,
  input: { endpointId: string; enabled: boolean },
): Promise<void> {
  const updated = await db
    .update(webhookEndpoint)
    .set({ enabled: input.enabled, updatedAt: sql`now()` })
    .where(eq(webhookEndpoint.id, input.endpointId))
    .returning({ id: webhookEndpoint.id });
  if (updated.length === 0) throw new NotFoundError("Webhook endpoint", { endpointId: input.endpointId });
}

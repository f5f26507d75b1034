"use server";

import { z } from "zod";
import { recordAudit } from "@/audit/record-audit";
import { getDb } from "@/db/client";
import { createWebhookEndpoint } from "@/outbound/create-webhook-endpoint";
import { resendWebhookDelivery } from "@/outbound/resend-webhook-delivery";
import { webhookEndpointInputSchema } from "@/outbound/schemas";
import { setWebhookEndpointEnabled } from "@/outbound/set-webhook-endpoint-enabled";
import { adminActionClient } from "./safe-action";

/**
 * Registers an endpoint (Admin → Outbound webhooks); the answer carries its secret, which the console shows
 * once. Audited with who asked, in the same transaction.
 */
export const createWebhookEndpointAction = adminActionClient
  .inputSchema(webhookEndpointInputSchema)
  .action(async ({ parsedInput, ctx }) => {
    const db = await getDb();
    return db.transaction(async (tx) => {
      const endpoint = await createWebhookEndpoint(tx, parsedInput);
      await recordAudit(tx, ctx.actor, "webhook_endpoint.create", null, {
        endpointId: endpoint.id,
        url: endpoint.url,
        eventTypes: endpoint.eventTypes,
      });
      return { id: endpoint.id, secret: endpoint.secret };
    });
  });

/** Turns an endpoint on or off (queued deliveries stay queued); audited. */
export const setWebhookEndpointEnabledAction = adminActionClient
  .inputSchema(z.object({ endpointId: z.uuid(), enabled: z.boolean() }).strict())
  .action(async ({ parsedInput, ctx }) => {
    const db = await getDb();
    await db.transaction(async (tx) => {
      await setWebhookEndpointEnabled(tx, parsedInput);
      await recordAudit(
        tx,
        ctx.actor,
        parsedInput.enabled ? "webhook_endpoint.enable" : "webhook_endpoint.disable",
        null,
        { endpointId: parsedInput.endpointId },
      );
    });
    return { ok: true };
  });

/** Queues a delivery again, due now (same event id); audited. */
export const resendWebhookDeliveryAction = adminActionClient
  .inputSchema(z.object({ deliveryId: z.uuid() }).strict())
  .action(async ({ parsedInput, ctx }) => {
    const db = await getDb();
    return db.transaction(async (tx) => {
      const resent = await resendWebhookDelivery(tx, parsedInput.deliveryId);
      await recordAudit(tx, ctx.actor, "webhook_delivery.resend", null, resent);
      return resent;
    });
  });

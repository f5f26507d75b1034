import { z } from "zod";
import { allowPrivateWebhookUrls } from "@/config/env";
import { storableTextSchema } from "@/credits/schemas";
import { refusedHostReason } from "./address-policy";
import { outboundEventTypeSchema } from "./event-types";

/**
 * An endpoint's URL: absolute, http or https only (anything else, `javascript:`, `file:`, `ftp:`, could
 * not receive a POST, or should not), at most 2,000 characters, no credentials in it (they would be shown
 * in the console and the logs), and not at an address the server must not send to (server-side request
 * forgery, src/outbound/address-policy.ts): never link-local or cloud metadata, loopback and private
 * networks only with WEBHOOK_ALLOW_PRIVATE_URLS (allowPrivateWebhookUrls()). A host name is checked here
 * when it is one (localhost, metadata.google.internal) and again at every delivery on the addresses it
 * resolves to (sendWebhook), since DNS can point it anywhere later.
 */
export const webhookUrlSchema = z
  .string()
  .max(2000)
  .superRefine((text, context) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      url = new URL("invalid:");
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) {
      context.addIssue({
        code: "custom",
        message: "an absolute http:// or https:// URL without credentials",
      });
      return;
    }
    const refused = refusedHostReason(url, allowPrivateWebhookUrls());
    if (refused) context.addIssue({ code: "custom", message: `The URL's host is ${refused}.` });
  })
  .meta({
    description: "Where events are POSTed: an absolute http:// or https:// URL.",
    example: "https://example.com/hooks/creditkit",
  });

export const webhookEndpointInputSchema = z
  .object({
    url: webhookUrlSchema,
    description: storableTextSchema.trim().max(500).optional(),
    /** At least one type; repeats are dropped. */
    eventTypes: z
      .array(outboundEventTypeSchema)
      .min(1, "choose at least one event type")
      .transform((types) => [...new Set(types)]),
  })
  .strict();

export type WebhookEndpointInput = z.input<typeof webhookEndpointInputSchema>;

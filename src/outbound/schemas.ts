import { z } from "zod";
import { storableTextSchema } from "@/credits/schemas";
import { outboundEventTypeSchema } from "./event-types";

/**
 * An endpoint's URL: absolute, http or https only (anything else, `javascript:`, `file:`, `ftp:`, could
 * not receive a POST, or should not), at most 2,000 characters, no credentials in it (they would be shown
 * in the console and the logs).
 */
export const webhookUrlSchema = z
  .string()
  .max(2000)
  .refine((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && !url.username && !url.password;
    } catch {
      return false;
    }
  }, "an absolute http:// or https:// URL without credentials")
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

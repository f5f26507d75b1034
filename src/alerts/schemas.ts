import { z } from "zod";
import { MAX_CREDITS_PER_OPERATION } from "@/credits/schemas";

/** A threshold in credits (a positive integer) or as a percentage (1-100) of the plan's monthly credits. */
export const lowBalanceThresholdSchema = z.union([
  z.object({ credits: z.number().int().positive().max(MAX_CREDITS_PER_OPERATION) }).strict(),
  z.object({ percent: z.number().int().min(1).max(100) }).strict(),
]);

/**
 * The body of PUT /api/credits/low-balance-alert: the threshold, or null to turn the alert off, and the
 * language of the emails (the page's locale).
 */
export const lowBalanceAlertBodySchema = z
  .object({
    threshold: lowBalanceThresholdSchema.nullable(),
    locale: z.enum(["en", "zh"]).optional(),
  })
  .strict();
export type LowBalanceAlertBody = z.infer<typeof lowBalanceAlertBodySchema>;

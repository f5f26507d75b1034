import { z } from "zod";
import { idempotencyKeySchema } from "./idempotency-keys";

export { idempotencyKeySchema };

/** Credits move in whole units. The upper bound keeps every sum far inside 2^53. */
export const MAX_CREDITS_PER_OPERATION = 1_000_000_000;

export const creditAmountSchema = z.number().int().positive().max(MAX_CREDITS_PER_OPERATION);
export const userIdSchema = z.string().min(1).max(200);
export const descriptionSchema = z.string().trim().min(1).max(500);

export const creditEntryTypes = [
  "purchase",
  "grant",
  "signup_gift",
  "adjustment",
  "consume",
  "expire",
  "refund",
  "dispute",
  "dispute_reversal",
  "debt_repayment",
] as const;
export type CreditEntryType = (typeof creditEntryTypes)[number];

export const grantTypes = ["purchase", "grant", "signup_gift", "adjustment", "dispute_reversal"] as const;
export type GrantType = (typeof grantTypes)[number];

export const lotCategories = ["paid", "promotional"] as const;
export type LotCategory = (typeof lotCategories)[number];

export const addCreditsInputSchema = z
  .object({
    userId: userIdSchema,
    amount: creditAmountSchema,
    type: z.enum(grantTypes),
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    expireDays: z.number().int().positive().max(36_500).optional(),
    expiresAt: z.date().optional(),
    category: z.enum(lotCategories).optional(),
    reference: z.string().max(255).optional(),
    purchaseId: z.uuid().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((input) => !(input.expireDays && input.expiresAt), "Give expireDays or expiresAt, not both");
export type AddCreditsInput = z.input<typeof addCreditsInputSchema>;

export const consumeCreditsInputSchema = z
  .object({
    /** `adjustment` is an operator's correction; it spends like any other debit. */
    type: z.enum(["consume", "adjustment"]).default("consume"),
    userId: userIdSchema,
    amount: creditAmountSchema,
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ConsumeCreditsInput = z.input<typeof consumeCreditsInputSchema>;

export const listTransactionsInputSchema = z
  .object({
    userId: userIdSchema,
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional(),
  })
  .strict();
export type ListTransactionsInput = z.input<typeof listTransactionsInputSchema>;

/** Holds last at most a day by default limits; a forgotten hold must not lock credits away for long. */
export const DEFAULT_HOLD_TTL_SECONDS = 15 * 60;
export const MAX_HOLD_TTL_SECONDS = 7 * 24 * 60 * 60;

export const createHoldInputSchema = z
  .object({
    userId: userIdSchema,
    amount: creditAmountSchema,
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    ttlSeconds: z.number().int().min(1).max(MAX_HOLD_TTL_SECONDS).default(DEFAULT_HOLD_TTL_SECONDS),
  })
  .strict();
export type CreateHoldInput = z.input<typeof createHoldInputSchema>;

export const captureHoldInputSchema = z
  .object({
    holdId: z.uuid(),
    /** Defaults to the whole reserved amount. Zero captures nothing and returns everything. */
    amount: z.number().int().min(0).max(MAX_CREDITS_PER_OPERATION).optional(),
    description: descriptionSchema.optional(),
  })
  .strict();
export type CaptureHoldInput = z.input<typeof captureHoldInputSchema>;

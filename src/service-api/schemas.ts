import { z } from "zod";
// Schemas with `meta({ id })` become named entries of `components.schemas` in the OpenAPI document.
import {
  creditAmountSchema,
  descriptionSchema,
  lotCategories,
  MAX_HOLD_TTL_SECONDS,
  storableTextSchema,
} from "@/credits/schemas";
import { queryIntegerSchema } from "@/lib/strict-input";
import { apiScopeSchema } from "./api-scopes";

// Text fields follow the shared rule (no U+0000, no unpaired surrogate: see isStorableText).
const description = descriptionSchema;
const metadata = z
  .record(
    storableTextSchema.max(64),
    z.union([storableTextSchema.max(500), z.number(), z.boolean(), z.null()]),
  )
  .refine((value) => Object.keys(value).length <= 20, "at most 20 metadata keys")
  .meta({
    description:
      "At most 20 keys of up to 64 characters (not `__proto__`, refused in every body); values: text of up to 500 characters, numbers, booleans or null.",
  });

/** The same bounded metadata object, for customers (src/service-api/customer-schemas.ts). */
export const metadataSchema = metadata;

export const consumeBodySchema = z
  .object({ amount: creditAmountSchema, description: description.optional(), metadata: metadata.optional() })
  .strict()
  .meta({ id: "ConsumeRequest" });

export const grantBodySchema = z
  .object({
    amount: creditAmountSchema,
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    category: z.enum(lotCategories).optional(),
    description: description.optional(),
  })
  .strict()
  .meta({ id: "GrantRequest" });

export const holdBodySchema = z
  .object({
    amount: creditAmountSchema,
    ttlSeconds: z.number().int().min(1).max(MAX_HOLD_TTL_SECONDS).optional(),
    description: description.optional(),
  })
  .strict()
  .meta({ id: "HoldRequest" });

export const captureBodySchema = z
  .object({ amount: z.number().int().min(0).max(1_000_000_000).optional() })
  .strict()
  .meta({ id: "CaptureRequest" });

export const releaseBodySchema = z.object({}).strict().meta({ id: "ReleaseRequest" });

export const transactionsQuerySchema = z
  .object({
    limit: queryIntegerSchema({ min: 1, max: 100 }, 20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional(),
  })
  .strict();

export const currentPlanSchema = z
  .object({
    id: z.string().meta({ description: "The plan's id in the catalog (`free` without a subscription)." }),
    name: z.string(),
    status: z
      .string()
      .nullable()
      .meta({ description: "The subscription's status (Stripe's: active, past_due, ...); null for Free." }),
    creditsPerPeriod: z.number().int().meta({ description: "Credits granted each monthly period." }),
    currentPeriodEnd: z
      .string()
      .nullable()
      .meta({ description: "When the current billing period ends (ISO 8601); null for Free." }),
    cancelAtPeriodEnd: z.boolean(),
  })
  .meta({ id: "CurrentPlan" });

export const balanceResponseSchema = z
  .object({
    balance: z.number().int(),
    held: z.number().int(),
    available: z.number().int(),
    debt: z.number().int(),
    plan: currentPlanSchema,
  })
  .meta({ id: "Balance" });
export const entryResponseSchema = z
  .object({ entryId: z.string(), balance: z.number().int() })
  .meta({ id: "EntryResult" });
export const grantResponseSchema = z
  .object({ entryId: z.string(), lotId: z.string(), balance: z.number().int() })
  .meta({ id: "GrantResult" });
export const holdResponseSchema = z
  .object({ holdId: z.string(), expiresAt: z.string() })
  .meta({ id: "HoldResult" });
export const captureResponseSchema = z
  .object({ entryId: z.string().nullable(), balance: z.number().int() })
  .meta({ id: "CaptureResult" });
export const releaseResponseSchema = z
  .object({ holdId: z.string(), status: z.literal("released"), balance: z.number().int() })
  .meta({ id: "ReleaseResult" });
export const transactionsResponseSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.string(),
        type: z.string(),
        amount: z.number().int(),
        balanceAfter: z.number().int(),
        description: z.string(),
        createdAt: z.string(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: "TransactionPage" });
export const errorResponseSchema = z
  .object({
    error: z.object({
      code: z.string().describe("What went wrong, for code to branch on (e.g. `insufficient_credits`)."),
      message: z.string().describe("What went wrong, for people."),
      retryable: z
        .boolean()
        .optional()
        .describe(
          "Present and true only where the same request can succeed later (429, 503): retry it with the same Idempotency-Key.",
        ),
      available: z
        .number()
        .int()
        .optional()
        .describe("With 402 `insufficient_credits`: the credits the user can spend now."),
    }),
  })
  .meta({ id: "Error" });

/** 403: the API key lacks the scope the operation needs (src/server/with-api-key.ts). */
export const insufficientScopeResponseSchema = z
  .object({
    error: z.object({
      code: z.literal("insufficient_scope"),
      message: z.string().describe("What went wrong, for people."),
      requiredScope: apiScopeSchema.describe("The scope the operation needs and the key does not have."),
    }),
  })
  .meta({ id: "InsufficientScopeError" });

import { z } from "zod";
import {
  creditAmountSchema,
  descriptionSchema,
  lotCategories,
  MAX_HOLD_TTL_SECONDS,
  storableTextSchema,
} from "@/credits/schemas";
import { queryIntegerSchema } from "@/lib/strict-input";

/** The named schemas of the service API: they become `components.schemas` in the OpenAPI document. */
export const apiSchemas = z.registry<{ id: string }>();

// Text fields follow the shared rule (no U+0000, no unpaired surrogate: see isStorableText).
const description = descriptionSchema;
const metadata = z
  .record(
    storableTextSchema.max(64),
    z.union([storableTextSchema.max(500), z.number(), z.boolean(), z.null()]),
  )
  .refine((value) => Object.keys(value).length <= 20, "at most 20 metadata keys");

export const consumeBodySchema = z
  .object({ amount: creditAmountSchema, description: description.optional(), metadata: metadata.optional() })
  .strict()
  .register(apiSchemas, { id: "ConsumeRequest" });

export const grantBodySchema = z
  .object({
    amount: creditAmountSchema,
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    category: z.enum(lotCategories).optional(),
    description: description.optional(),
  })
  .strict()
  .register(apiSchemas, { id: "GrantRequest" });

export const holdBodySchema = z
  .object({
    amount: creditAmountSchema,
    ttlSeconds: z.number().int().min(1).max(MAX_HOLD_TTL_SECONDS).optional(),
    description: description.optional(),
  })
  .strict()
  .register(apiSchemas, { id: "HoldRequest" });

export const captureBodySchema = z
  .object({ amount: z.number().int().min(0).max(1_000_000_000).optional() })
  .strict()
  .register(apiSchemas, { id: "CaptureRequest" });

export const releaseBodySchema = z.object({}).strict().register(apiSchemas, { id: "ReleaseRequest" });

export const transactionsQuerySchema = z
  .object({
    limit: queryIntegerSchema({ min: 1, max: 100 }, 20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional(),
  })
  .strict();

export const balanceResponseSchema = z
  .object({
    balance: z.number().int(),
    held: z.number().int(),
    available: z.number().int(),
    debt: z.number().int(),
  })
  .register(apiSchemas, { id: "Balance" });
export const entryResponseSchema = z
  .object({ entryId: z.string(), balance: z.number().int() })
  .register(apiSchemas, { id: "EntryResult" });
export const grantResponseSchema = z
  .object({ entryId: z.string(), lotId: z.string(), balance: z.number().int() })
  .register(apiSchemas, { id: "GrantResult" });
export const holdResponseSchema = z
  .object({ holdId: z.string(), expiresAt: z.string() })
  .register(apiSchemas, { id: "HoldResult" });
export const captureResponseSchema = z
  .object({ entryId: z.string().nullable(), balance: z.number().int() })
  .register(apiSchemas, { id: "CaptureResult" });
export const releaseResponseSchema = z
  .object({ holdId: z.string(), status: z.literal("released"), balance: z.number().int() })
  .register(apiSchemas, { id: "ReleaseResult" });
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
  .register(apiSchemas, { id: "TransactionPage" });
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
  .register(apiSchemas, { id: "Error" });

import { z } from "zod";
import { storableTextSchema } from "@/credits/schemas";
import { balanceResponseSchema, metadataSchema } from "./schemas";

/**
 * PUT /api/v1/customers/{externalId}'s body. Every field is optional: a field left out keeps its value,
 * `null` clears it (src/credits/upsert-customer.ts). Metadata is the same bounded object the spend takes
 * (at most 20 keys of up to 64 characters; values text of up to 500 characters, numbers, booleans or null):
 * it is the caller's notes about the customer, not a store.
 */
export const customerBodySchema = z
  .object({
    email: z.email().max(254).nullable().optional().meta({
      description: "The customer's email address (up to 254 characters), for operators; null clears it.",
    }),
    name: storableTextSchema
      .trim()
      .min(1)
      .max(200)
      .nullable()
      .optional()
      .meta({ description: "The customer's name (1-200 characters), for operators; null clears it." }),
    metadata: metadataSchema.nullable().optional(),
  })
  .strict()
  .meta({ id: "CustomerRequest" });

export const customerResponseSchema = z
  .object({
    externalId: z.string().meta({ description: "The customer's id in your system." }),
    userId: z.string().meta({
      description:
        "The customer's account id in the ledger (`cus_…`): the `userId` of outbound events and audit entries, also accepted by the /users/{userId}/… routes.",
    }),
    email: z.string().nullable(),
    name: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    createdAt: z.string().meta({ description: "When the customer was created (ISO 8601)." }),
  })
  .meta({ id: "Customer" });

export const customerWithBalanceResponseSchema = customerResponseSchema
  .extend({ balance: balanceResponseSchema })
  .meta({ id: "CustomerWithBalance" });

/** The JSON shape of a customer, as the routes answer it. */
export function customerBody(customer: {
  userId: string;
  externalId: string;
  email: string | null;
  name: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
}) {
  return {
    externalId: customer.externalId,
    userId: customer.userId,
    email: customer.email,
    name: customer.name,
    metadata: customer.metadata,
    createdAt: customer.createdAt.toISOString(),
  };
}

"use server";

import { z } from "zod";
import { adjustCredits } from "@/admin/adjust-credits";
import { storableTextSchema, userIdSchema } from "@/credits/schemas";
import { getDb } from "@/db/client";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { refundPurchase } from "@/payment/refund-purchase";
import { createApiKey, revokeApiKey } from "@/service-api/api-keys";
import { API_SCOPES, apiScopeSchema, DEFAULT_API_SCOPES } from "@/service-api/api-scopes";
import { adminActionClient } from "./safe-action";

// Text follows the shared rule (no U+0000, no unpaired surrogate): a reason is stored in the ledger and
// the audit log, and one PostgreSQL cannot store would fail the same way on every attempt.
const reasonSchema = storableTextSchema.trim().min(3).max(500);

/** Grant (positive) or take away (negative) credits, with a reason; recorded with who did it. */
export const adjustCreditsAction = adminActionClient
  .inputSchema(
    z
      .object({
        userId: userIdSchema,
        delta: z
          .number()
          .int()
          .refine((value) => value !== 0, "must not be zero")
          .refine((value) => Math.abs(value) <= 1_000_000_000, "too large"),
        reason: reasonSchema,
        expireDays: z.number().int().positive().max(36_500).optional(),
        category: z.enum(["paid", "promotional"]).optional(),
        requestId: z.uuid(),
      })
      .strict(),
  )
  .action(async ({ parsedInput, ctx }) => adjustCredits(await getDb(), parsedInput, ctx.actor));

/** Asks Stripe (or the sandbox) to refund; the credits change when the refund's event arrives. */
export const refundPurchaseAction = adminActionClient
  .inputSchema(
    z
      .object({
        purchaseId: z.uuid(),
        amount: z.number().int().positive().optional(),
        reason: reasonSchema,
        requestId: z.uuid().optional(),
      })
      .strict(),
  )
  .action(async ({ parsedInput, ctx }) => {
    const db = await getDb();
    return refundPurchase(db, getPaymentProvider(db), parsedInput, ctx.actor);
  });

/**
 * Creates a key with the scopes the operator ticked (the form always sends them; DEFAULT_API_SCOPES when a
 * caller leaves them out, never every scope: grant and admin are chosen on purpose).
 */
export const createApiKeyAction = adminActionClient
  .inputSchema(
    z
      .object({
        name: storableTextSchema.trim().min(1).max(100),
        scopes: z
          .array(apiScopeSchema)
          .min(1)
          .max(API_SCOPES.length)
          .default([...DEFAULT_API_SCOPES]),
      })
      .strict(),
  )
  .action(async ({ parsedInput, ctx }) =>
    createApiKey(await getDb(), parsedInput.name, ctx.actor, parsedInput.scopes),
  );

export const revokeApiKeyAction = adminActionClient
  .inputSchema(z.object({ id: z.uuid() }).strict())
  .action(async ({ parsedInput, ctx }) => revokeApiKey(await getDb(), parsedInput.id, ctx.actor));

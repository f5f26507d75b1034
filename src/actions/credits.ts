"use server";

import { getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";
import { purchaseRequestSchema } from "@/payment/purchase-request";
import { startPurchase } from "@/payment/start-purchase";
import { authActionClient } from "./safe-action";

/**
 * The signed-in user's balance `{balance, held, available, debt}` in credits, as GET /api/credits/balance
 * answers it. Kept for developers (the original design's name); the app's pages use the JSON API.
 */
export const getCreditsAction = authActionClient.action(async ({ ctx }) => {
  return getBalance(await getDb(), ctx.user.id);
});

/**
 * Starts a purchase of a package `{packageId}`: the use case startPurchase, as POST /api/credits/purchases
 * runs it (same rate limit, same answer, the same error codes and messages as `serverError`). Kept for
 * developers (the original design's name); the app's pages use the JSON API.
 */
export const createCreditPaymentIntent = authActionClient
  .inputSchema(purchaseRequestSchema)
  .action(async ({ parsedInput, ctx }) => startPurchase(await getDb(), ctx.user, parsedInput));

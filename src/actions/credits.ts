"use server";

import { getBalance } from "@/credits/get-balance";
import { getDb } from "@/db/client";
import { getPaymentClientConfig } from "@/payment/client-config";
import { createCreditPurchase } from "@/payment/create-credit-purchase";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { purchaseRequestSchema } from "@/payment/purchase-request";
import { limitPurchases } from "@/server/rate-limit";
import { authActionClient } from "./safe-action";

/** The signed-in user's spendable balance. */
export const getCreditsAction = authActionClient.action(async ({ ctx }) => {
  return getBalance(await getDb(), ctx.user.id);
});

/** Starts a purchase of a package: same rules as POST /api/credits/purchases. */
export const createCreditPaymentIntent = authActionClient
  .inputSchema(purchaseRequestSchema)
  .action(async ({ parsedInput, ctx }) => {
    await limitPurchases(ctx.user.id);
    const db = await getDb();
    const purchase = await createCreditPurchase(db, getPaymentProvider(db), {
      userId: ctx.user.id,
      packageId: parsedInput.packageId,
    });
    return { ...purchase, publishableKey: getPaymentClientConfig().publishableKey };
  });

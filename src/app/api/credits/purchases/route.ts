import { getDb } from "@/db/client";
import { createCreditPurchase } from "@/payment/create-credit-purchase";
import { getPaymentProvider } from "@/payment/get-payment-provider";
import { purchaseRequestSchema } from "@/payment/purchase-request";
import { limitPurchases } from "@/server/rate-limit";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

export const POST = withUser(async (request, user) => {
  const { packageId } = await readJsonBody(request, purchaseRequestSchema);
  await limitPurchases(user.id);
  const db = await getDb();
  const purchase = await createCreditPurchase(db, getPaymentProvider(db), { userId: user.id, packageId });
  return Response.json(purchase, { status: 201 });
});

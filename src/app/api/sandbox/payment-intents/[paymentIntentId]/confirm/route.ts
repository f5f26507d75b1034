import { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { getDb } from "@/db/client";
import { activePaymentProvider, webhookSigningSecret } from "@/payment/payment-config";
import { confirmSandboxPayment } from "@/payment/sandbox/confirm-sandbox-payment";
import { jsonError } from "@/server/http-errors";
import { limitPurchases } from "@/server/rate-limit";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

const confirmSchema = z.object({ cardNumber: z.string().min(1).max(32) }).strict();

const confirm = withUser<{ paymentIntentId: string }>(async (request, user, { paymentIntentId }) => {
  // A path id PostgreSQL cannot store (`%00`) names no PaymentIntent.
  if (!isStorableText(paymentIntentId)) throw new NotFoundError("PaymentIntent");
  const { cardNumber } = await readJsonBody(request, confirmSchema);
  await limitPurchases(user.id);
  const result = await confirmSandboxPayment(await getDb(), {
    paymentIntentId,
    userId: user.id,
    cardNumber,
    webhookSecret: webhookSigningSecret(),
  });
  return Response.json(result, { status: result.status === "succeeded" ? 200 : 402 });
});

export async function POST(request: Request, context: { params: Promise<{ paymentIntentId: string }> }) {
  // The sandbox exists only while no Stripe keys are configured; with Stripe it must not be reachable.
  if (activePaymentProvider() !== "sandbox") return jsonError(404, "not_found", "Not found.");
  return confirm(request, context);
}

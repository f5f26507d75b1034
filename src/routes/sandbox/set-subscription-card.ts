import { z } from "zod";
import { getDb } from "@/db/client";
import { limitPurchases } from "@/limits/rate-limit";
import { activePaymentProvider, webhookSigningSecret } from "@/payment/payment-config";
import { setSandboxCard } from "@/payment/sandbox/set-sandbox-card";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

const cardSchema = z.object({ cardNumber: z.string().min(1).max(32) }).strict();

/** A card change may charge the open invoice at once, so it counts against the purchase limit like a payment. */
const setCard = withUser<{ subscriptionId: string }>(async (request, user, { subscriptionId }) => {
  const { cardNumber } = await readJsonBody(request, cardSchema);
  await limitPurchases(user.id);
  const result = await setSandboxCard(await getDb(), {
    subscriptionId,
    userId: user.id,
    cardNumber,
    webhookSecret: webhookSigningSecret(),
  });
  return Response.json(result);
});

/**
 * PUT /api/sandbox/subscriptions/{subscriptionId}/card `{cardNumber}`: changes the card on file of the
 * signed-in user's sandbox subscription and, when it is past due, retries its open invoice with it
 * (setSandboxCard). 200 `{card: {last4}, retried?: {invoiceId, status}}`; 400 invalid_card; 402
 * card_declined (a card the provider refuses to keep; the old card stays); 404 for a subscription that is
 * not the caller's, and whenever the sandbox is not the payment provider.
 */
export default defineRoute({
  method: "PUT",
  path: "/api/sandbox/subscriptions/{subscriptionId}/card",
  handler: (request, context) => {
    // The sandbox exists only while no Stripe keys are configured; with Stripe it must not be reachable.
    if (activePaymentProvider() !== "sandbox") return jsonError(404, "not_found", "Not found.");
    return setCard(request, context as { params: Promise<{ subscriptionId: string }> });
  },
});

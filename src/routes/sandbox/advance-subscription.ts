import { getDb } from "@/db/client";
import { limitPurchases } from "@/limits/rate-limit";
import { activePaymentProvider, webhookSigningSecret } from "@/payment/payment-config";
import { advanceSandboxSubscription } from "@/payment/sandbox/advance-sandbox-subscription";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { withUser } from "@/server/with-user";

/** Each advance charges a (simulated) renewal, so it counts against the purchase limit like a payment. */
const advance = withUser<{ subscriptionId: string }>(async (_request, user, { subscriptionId }) => {
  await limitPurchases(user.id);
  const result = await advanceSandboxSubscription(await getDb(), {
    subscriptionId,
    userId: user.id,
    webhookSecret: webhookSigningSecret(),
  });
  return Response.json(result);
});

/**
 * POST /api/sandbox/subscriptions/{subscriptionId}/advance (the id GET /api/credits/subscription answers):
 * moves the signed-in user's sandbox subscription to its next renewal and delivers the renewal's events
 * before answering 200 `{subscription, invoice: {id, status} | null, clock, slot: {start, end} | null}`
 * (advanceSandboxSubscription). A yearly plan moves one monthly slot at a time (that month's credits are
 * issued before the answer, `slot` is that month and `invoice` the year's paid invoice) and renews at the
 * year's end.
 * 404 for a subscription that is not the caller's, and whenever the sandbox is not the payment provider;
 * 409 subscription_not_advanceable for one that is unpaid or over.
 */
export default defineRoute({
  method: "POST",
  path: "/api/sandbox/subscriptions/{subscriptionId}/advance",
  handler: (request, context) => {
    // The sandbox exists only while no Stripe keys are configured; with Stripe it must not be reachable.
    if (activePaymentProvider() !== "sandbox") return jsonError(404, "not_found", "Not found.");
    return advance(request, context as { params: Promise<{ subscriptionId: string }> });
  },
});

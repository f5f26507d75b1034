import { z } from "zod";
import { NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { getDb } from "@/db/client";
import { limitPurchases } from "@/limits/rate-limit";
import { activePaymentProvider } from "@/payment/payment-config";
import { confirmSandboxSetupIntent } from "@/payment/sandbox/sandbox-setup-intents";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

const confirmSchema = z.object({ cardNumber: z.string().min(1).max(32) }).strict();

/** Confirms the signed-in user's sandbox SetupIntent with a test card (confirmSandboxSetupIntent). */
const confirm = withUser<{ setupIntentId: string }>(async (request, user, { setupIntentId }) => {
  if (!isStorableText(setupIntentId)) throw new NotFoundError("SetupIntent");
  const { cardNumber } = await readJsonBody(request, confirmSchema);
  await limitPurchases(user.id);
  const result = await confirmSandboxSetupIntent(await getDb(), {
    setupIntentId,
    userId: user.id,
    cardNumber,
  });
  return Response.json(result, { status: result.status === "succeeded" ? 200 : 402 });
});

/**
 * POST /api/sandbox/setup-intents/{setupIntentId}/confirm `{cardNumber}`: saves a test card on a sandbox
 * SetupIntent (Stripe's test cards, see the README's auto top-up section). 200 `succeeded`; 402 with
 * `card_declined` for a card that cannot be saved; 400 `invalid_card`; 404 for another user's SetupIntent,
 * and whenever the sandbox is not the payment provider.
 */
export default defineRoute({
  method: "POST",
  path: "/api/sandbox/setup-intents/{setupIntentId}/confirm",
  handler: (request, context) => {
    // The sandbox exists only while no Stripe keys are configured; with Stripe it must not be reachable.
    if (activePaymentProvider() !== "sandbox") return jsonError(404, "not_found", "Not found.");
    return confirm(request, context as { params: Promise<{ setupIntentId: string }> });
  },
});

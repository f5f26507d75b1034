import { z } from "zod";
import { InvalidInputError, NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { getDb } from "@/db/client";
import { limitPurchases } from "@/limits/rate-limit";
import { activePaymentProvider, webhookSigningSecret } from "@/payment/payment-config";
import { confirmSandboxPayment } from "@/payment/sandbox/confirm-sandbox-payment";
import { MAX_IDEMPOTENCY_KEY_LENGTH } from "@/payment/sandbox/sandbox-idempotency";
import { defineRoute } from "@/server/define-route";
import { jsonError } from "@/server/http-errors";
import { readJsonBody } from "@/server/request";
import { withUser } from "@/server/with-user";

const confirmSchema = z.object({ cardNumber: z.string().min(1).max(32) }).strict();

/** Stripe's rule for keys: at most 255 characters; printable ASCII here, so a key is never mangled. */
const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(MAX_IDEMPOTENCY_KEY_LENGTH)
  .regex(/^[\x21-\x7e]+$/);

/**
 * Confirms a sandbox PaymentIntent with a test card. An optional `Idempotency-Key` header makes the
 * confirm idempotent as at Stripe: a repeat with the same key and card answers the first result; the same
 * key with another card answers 400 `idempotency_error`. Keys are scoped to the signed-in user.
 */
const confirm = withUser<{ paymentIntentId: string }>(async (request, user, { paymentIntentId }) => {
  // A path id PostgreSQL cannot store (`%00`) names no PaymentIntent.
  if (!isStorableText(paymentIntentId)) throw new NotFoundError("PaymentIntent");
  const { cardNumber } = await readJsonBody(request, confirmSchema);
  const header = request.headers.get("idempotency-key");
  const key = header === null ? undefined : idempotencyKeySchema.safeParse(header);
  if (key && !key.success) {
    throw new InvalidInputError("Idempotency-Key must be 1 to 255 printable ASCII characters.");
  }
  await limitPurchases(user.id);
  const result = await confirmSandboxPayment(await getDb(), {
    paymentIntentId,
    userId: user.id,
    cardNumber,
    webhookSecret: webhookSigningSecret(),
    ...(key?.success ? { idempotencyKey: `confirm:${user.id}:${key.data}` } : {}),
  });
  return Response.json(result, { status: result.status === "succeeded" ? 200 : 402 });
});

/** POST /api/sandbox/payment-intents/{paymentIntentId}/confirm: see confirm; 404 unless the sandbox is active. */
export default defineRoute({
  method: "POST",
  path: "/api/sandbox/payment-intents/{paymentIntentId}/confirm",
  handler: (request, context) => {
    // The sandbox exists only while no Stripe keys are configured; with Stripe it must not be reachable.
    if (activePaymentProvider() !== "sandbox") return jsonError(404, "not_found", "Not found.");
    return confirm(request, context as { params: Promise<{ paymentIntentId: string }> });
  },
});

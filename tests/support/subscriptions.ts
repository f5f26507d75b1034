import { expect } from "vitest";
import { appRequest, readJson, routeContext } from "./app-requests";
import { confirmPost, subscriptionsPost } from "./route-handlers";

export const CARD_OK = "4242 4242 4242 4242";

/**
 * Subscribes a signed-in user to `planId` in the sandbox and pays the first invoice with `cardNumber`, as
 * the credits page does (POST /api/credits/subscriptions, then the confirm route). Expects the subscribe
 * to answer 201; returns our subscription id, the first invoice's PaymentIntent and the confirm's status
 * (200 paid, 402 declined or waiting for authentication).
 */
export async function subscribeAndPay(
  user: { cookie: string },
  planId = "pro-monthly",
  cardNumber = CARD_OK,
): Promise<{ subscriptionId: string; paymentIntentId: string; paidStatus: number }> {
  const started = await readJson<{ subscriptionId: string; paymentIntentId: string }>(
    await subscriptionsPost(
      appRequest("/api/credits/subscriptions", { cookie: user.cookie, json: { planId } }),
      routeContext({}),
    ),
  );
  expect(started.status).toBe(201);
  const { subscriptionId, paymentIntentId } = started.body;
  const paid = await confirmPost(
    appRequest(`/api/sandbox/payment-intents/${paymentIntentId}/confirm`, {
      cookie: user.cookie,
      json: { cardNumber },
    }),
    routeContext({ paymentIntentId }),
  );
  return { subscriptionId, paymentIntentId, paidStatus: paid.status };
}

import { paymentIntentObject, signPayload, stripeEventPayload } from "../../support/stripe-events";

/** Every request of the suite is bounded: a request still unanswered after this is a hang, reported as such. */
export const REQUEST_TIMEOUT_MS = 20_000;

export type ErrorBody = { error?: { code?: string; message?: string; retryable?: boolean } };

/** What a client saw: an HTTP answer, or no answer at all (connection refused or reset, or a hang). */
export type Answer<Body> =
  | { answered: true; status: number; body: (Body & ErrorBody) | undefined; replayed: boolean; ms: number }
  | { answered: false; error: string; hung: boolean; ms: number };

async function send<Body>(url: string, init: RequestInit, timeoutMs: number): Promise<Answer<Body>> {
  const started = performance.now();
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      answered: false,
      error: cause?.code ?? cause?.message ?? (error as Error).message,
      hung: (error as Error).name === "TimeoutError",
      ms: performance.now() - started,
    };
  }
  // The status line is the answer; a body cut off by the crash does not make it unanswered.
  const body = (await response.json().catch(() => undefined)) as (Body & ErrorBody) | undefined;
  return {
    answered: true,
    status: response.status,
    body,
    replayed: response.headers.get("idempotent-replayed") === "true",
    ms: performance.now() - started,
  };
}

export type SpendBody = { entryId: string; balance: number };

export type SpendRequest = { userId: string; amount: number; idempotencyKey: string };

/** POST /api/v1/users/{id}/consume as another backend would send it. */
export function spend(
  baseUrl: string,
  apiKey: string,
  request: SpendRequest,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Answer<SpendBody>> {
  return send<SpendBody>(
    `${baseUrl}/api/v1/users/${encodeURIComponent(request.userId)}/consume`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${apiKey}`,
        "idempotency-key": request.idempotencyKey,
        "content-type": "application/json",
      },
      body: JSON.stringify({ amount: request.amount, description: "fault-test spend" }),
    },
    timeoutMs,
  );
}

export type BalanceBody = { balance: number; held: number; available: number; debt: number };

export function balance(
  baseUrl: string,
  apiKey: string,
  userId: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Answer<BalanceBody>> {
  return send<BalanceBody>(
    `${baseUrl}/api/v1/users/${encodeURIComponent(userId)}/balance`,
    { headers: { authorization: `Bearer ${apiKey}` } },
    timeoutMs,
  );
}

/** The secret the server under test is started with (STRIPE_WEBHOOK_SECRET). */
export const WEBHOOK_SECRET = "whsec_faults";
/** Stripe mode needs all three settings, or the server refuses to start. */
export const STRIPE_ENV = {
  STRIPE_SECRET_KEY: "sk_test_faults",
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY: "pk_test_faults",
};

export type PendingPurchase = {
  purchaseId: string;
  userId: string;
  packageId: string;
  paymentIntentId: string;
  amount: number;
  currency: string;
  credits: number;
};

/** The raw body of payment_intent.succeeded for a purchase, as Stripe would send it (one id per event). */
export function succeededEvent(purchase: PendingPurchase, eventId: string): string {
  return stripeEventPayload(
    "payment_intent.succeeded",
    paymentIntentObject({
      id: purchase.paymentIntentId,
      amount: purchase.amount,
      currency: purchase.currency,
      metadata: { purchaseId: purchase.purchaseId, userId: purchase.userId, packageId: purchase.packageId },
    }),
    eventId,
  );
}

export type WebhookBody = { received?: boolean; outcome?: string };

/** Delivers an event; like Stripe, every delivery (retries too) is signed afresh with the current time. */
export function deliverWebhook(
  baseUrl: string,
  payload: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Answer<WebhookBody>> {
  return send<WebhookBody>(
    `${baseUrl}/api/webhooks/stripe`,
    {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": signPayload(payload, WEBHOOK_SECRET),
      },
      body: payload,
    },
    timeoutMs,
  );
}

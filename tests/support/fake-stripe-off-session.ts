/**
 * SetupIntents and off-session PaymentIntents for the local Stripe stand-in (fake-stripe.ts), shaped as
 * Stripe's API answers them (API version STRIPE_API_VERSION): `POST /v1/setup_intents`, `GET
 * /v1/setup_intents/:id` (with `expand[]=payment_method`), and `POST /v1/payment_intents` with
 * `off_session=true&confirm=true`, which charges the saved payment method at once: 200 with a `succeeded`
 * PaymentIntent, or, like Stripe, 402 `card_error` (`card_declined`, or `authentication_required`)
 * carrying the PaymentIntent left `requires_payment_method` with its `last_payment_error`
 * (https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method). A repeated
 * Idempotency-Key replays the first answer, error included, as Stripe does.
 *
 * The browser's part (the cardholder confirming the SetupIntent with the Payment Element) is the test's:
 * `confirmSetupIntent` saves a card on it, with the outcomes its off-session charges will have in order.
 */

type Rec = Record<string, unknown>;
export type OffSessionOutcome = "succeeds" | "declines" | "authentication_required";
type Answer = { status: number; body: unknown };

export type FakeOffSession = {
  setupIntents: Map<string, Rec>;
  paymentIntents: Map<string, Rec>;
  /**
   * Saves a card on a SetupIntent as the cardholder's confirmation would: `succeeded`, with a new payment
   * method whose off-session charges come out as `charges` says, one per charge (the last one repeats).
   * Returns the SetupIntent as Stripe's `setup_intent.succeeded` event carries it (payment method by id).
   */
  confirmSetupIntent: (
    id: string,
    card: { last4: string; brand?: string; charges: OffSessionOutcome[] },
  ) => Rec;
  handle: (
    method: string,
    path: string,
    form: URLSearchParams,
    query: URLSearchParams,
    idempotencyKey?: string,
  ) => Answer | undefined;
};

export function createFakeOffSession(): FakeOffSession {
  const setupIntents = new Map<string, Rec>();
  const paymentIntents = new Map<string, Rec>();
  const methods = new Map<
    string,
    { brand: string; last4: string; customer: string; charges: OffSessionOutcome[] }
  >();
  const answers = new Map<string, Answer>();
  let counter = 0;
  const next = (prefix: string) => `${prefix}_fake_os_${++counter}`;
  const now = () => Math.floor(Date.now() / 1000);
  const metadataOf = (form: URLSearchParams) =>
    Object.fromEntries(
      [...form.entries()]
        .filter(([key]) => key.startsWith("metadata["))
        .map(([key, value]) => [key.slice("metadata[".length, -1), value]),
    );
  const paymentMethodObject = (id: string) => {
    const method = methods.get(id);
    return method
      ? {
          id,
          object: "payment_method",
          type: "card",
          customer: method.customer,
          card: {
            brand: method.brand,
            last4: method.last4,
            exp_month: 12,
            exp_year: 2034,
            funding: "credit",
          },
          livemode: false,
          created: now(),
          metadata: {},
        }
      : null;
  };

  function confirmSetupIntent(
    id: string,
    card: { last4: string; brand?: string; charges: OffSessionOutcome[] },
  ) {
    const intent = setupIntents.get(id);
    if (!intent) throw new Error(`fake Stripe: no SetupIntent ${id}`);
    const methodId = next("pm");
    methods.set(methodId, {
      brand: card.brand ?? "visa",
      last4: card.last4,
      customer: String(intent.customer),
      charges: [...card.charges],
    });
    const updated = { ...intent, status: "succeeded", payment_method: methodId };
    setupIntents.set(id, updated);
    return updated;
  }

  function charge(form: URLSearchParams): Answer {
    const methodId = form.get("payment_method") ?? "";
    const method = methods.get(methodId);
    if (!method || method.customer !== form.get("customer"))
      return {
        status: 400,
        body: {
          error: {
            type: "invalid_request_error",
            code: "resource_missing",
            param: "payment_method",
            message: `No such PaymentMethod: '${methodId}'`,
          },
        },
      };
    const outcome = (method.charges.length > 1 ? method.charges.shift() : method.charges[0]) ?? "succeeds";
    const id = next("pi");
    const amount = Number(form.get("amount"));
    const error =
      outcome === "declines"
        ? {
            type: "card_error",
            code: "card_declined",
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
          }
        : outcome === "authentication_required"
          ? {
              type: "card_error",
              code: "authentication_required",
              decline_code: "authentication_required",
              message: "Your card was declined. This transaction requires authentication.",
            }
          : null;
    const intent = {
      id,
      object: "payment_intent",
      amount,
      amount_capturable: 0,
      amount_received: error ? 0 : amount,
      currency: form.get("currency"),
      customer: form.get("customer"),
      description: form.get("description"),
      payment_method: error ? null : methodId,
      client_secret: `${id}_secret_fake`,
      confirmation_method: "automatic",
      capture_method: "automatic",
      status: error ? "requires_payment_method" : "succeeded",
      latest_charge: error ? null : next("ch"),
      last_payment_error: error ? { ...error, payment_method: paymentMethodObject(methodId) } : null,
      cancellation_reason: null,
      next_action: null,
      metadata: metadataOf(form),
      livemode: false,
      created: now(),
    };
    paymentIntents.set(id, intent);
    if (!error) return { status: 200, body: intent };
    return {
      status: 402,
      body: { error: { ...error, payment_intent: intent, payment_method: paymentMethodObject(methodId) } },
    };
  }

  function handle(
    method: string,
    path: string,
    form: URLSearchParams,
    query: URLSearchParams,
    idempotencyKey?: string,
  ) {
    if (method === "POST" && path === "/v1/setup_intents") {
      const id = next("seti");
      const intent = {
        id,
        object: "setup_intent",
        client_secret: `${id}_secret_fake`,
        customer: form.get("customer"),
        usage: form.get("usage") ?? "off_session",
        status: "requires_payment_method",
        payment_method: null,
        automatic_payment_methods: { enabled: form.get("automatic_payment_methods[enabled]") === "true" },
        last_setup_error: null,
        metadata: metadataOf(form),
        livemode: false,
        created: now(),
      };
      setupIntents.set(id, intent);
      return { status: 200, body: intent };
    }
    const setupPath = /^\/v1\/setup_intents\/([^/]+)$/.exec(path);
    if (method === "GET" && setupPath) {
      const intent = setupIntents.get(decodeURIComponent(setupPath[1] ?? ""));
      if (!intent)
        return {
          status: 404,
          body: {
            error: {
              type: "invalid_request_error",
              code: "resource_missing",
              message: "No such setupintent",
            },
          },
        };
      const expand = [...query.entries()].some(
        ([key, value]) => key.startsWith("expand") && value === "payment_method",
      );
      return {
        status: 200,
        body:
          expand && typeof intent.payment_method === "string"
            ? { ...intent, payment_method: paymentMethodObject(intent.payment_method) }
            : intent,
      };
    }
    if (
      method === "POST" &&
      path === "/v1/payment_intents" &&
      form.get("off_session") === "true" &&
      form.get("confirm") === "true"
    ) {
      const replay = idempotencyKey ? answers.get(idempotencyKey) : undefined;
      if (replay) return replay;
      const answer = charge(form);
      if (idempotencyKey) answers.set(idempotencyKey, answer);
      return answer;
    }
    return undefined;
  }

  return { setupIntents, paymentIntents, confirmSetupIntent, handle };
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import { createFakeBilling, type FakeBilling } from "./fake-stripe-billing";
import { createFakeOffSession, type FakeOffSession } from "./fake-stripe-off-session";

/** What the app sent to the Stripe API, as the server received it. */
export type RecordedStripeRequest = {
  method: string;
  path: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  form: URLSearchParams;
};

/** ok: answer like Stripe; error: HTTP 500 api_error; hang: accept the request and never answer. */
export type FakeStripeMode = "ok" | "error" | "hang";

export type FakeStripe = {
  url: string;
  port: number;
  requests: RecordedStripeRequest[];
  /** Subscriptions as Stripe has them now, by id: GET /v1/subscriptions/:id answers them (else 404). */
  subscriptions: Map<string, Record<string, unknown>>;
  /** Customers, prices, Checkout, subscriptions, schedules, invoices and the portal (fake-stripe-billing.ts). */
  billing: FakeBilling;
  /** SetupIntents and off-session charges of saved cards (fake-stripe-off-session.ts). */
  offSession: FakeOffSession;
  setMode: (mode: FakeStripeMode) => void;
  close: () => Promise<void>;
};

/**
 * A few lines of Stripe's API on 127.0.0.1, so the real SDK can be exercised without the network:
 * POST /v1/payment_intents answers a PaymentIntent and, like Stripe, replays the first answer for a
 * repeated Idempotency-Key (on the billing routes only with the same parameters; other parameters are
 * answered 400 `idempotency_error`, as Stripe does); GET /v1/subscriptions/:id answers what the test put in `subscriptions`;
 * the billing routes (customers, prices, Checkout Sessions, subscription updates and schedules, invoices,
 * invoice payments, portal sessions) are answered by fake-stripe-billing.ts, replaying by
 * Idempotency-Key too; SetupIntents and off-session charges of saved cards by fake-stripe-off-session.ts.
 * Everything else is a 404 in Stripe's error shape (`resource_missing` for an
 * unknown object).
 */
export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: RecordedStripeRequest[] = [];
  const byIdempotencyKey = new Map<string, string>();
  const paramsByIdempotencyKey = new Map<string, string>();
  const subscriptions = new Map<string, Record<string, unknown>>();
  const billing = createFakeBilling(subscriptions);
  const offSession = createFakeOffSession();
  let mode: FakeStripeMode = "ok";
  let counter = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const path = url.pathname;
      const idempotencyKey = header(req, "idempotency-key");
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      requests.push({
        method: req.method ?? "",
        path,
        authorization: header(req, "authorization"),
        idempotencyKey,
        form,
      });

      if (mode === "hang") return;
      const send = (status: number, body: string) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": `req_fake_${++counter}` });
        res.end(body);
      };
      if (mode === "error") {
        send(500, JSON.stringify({ error: { type: "api_error", message: "An unknown error occurred." } }));
        return;
      }
      // Like Stripe, a repeated Idempotency-Key replays the first answer only for the same parameters; with
      // others it is refused (400 idempotency_error) and nothing is done.
      const params = [...form.entries()]
        .map(([key, value]) => `${key}=${value}`)
        .sort()
        .join("&");
      if (req.method === "POST" && path !== "/v1/payment_intents" && idempotencyKey) {
        const replay = byIdempotencyKey.get(`${path}:${idempotencyKey}`);
        if (replay !== undefined && paramsByIdempotencyKey.get(`${path}:${idempotencyKey}`) !== params) {
          send(
            400,
            JSON.stringify({
              error: {
                type: "idempotency_error",
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
              },
            }),
          );
          return;
        }
        if (replay) {
          send(200, replay);
          return;
        }
      }
      // SetupIntents and off-session charges replay by Idempotency-Key themselves (their 402s included).
      const offSessionAnswer = offSession.handle(
        req.method ?? "GET",
        path,
        form,
        url.searchParams,
        idempotencyKey,
      );
      if (offSessionAnswer) {
        send(offSessionAnswer.status, JSON.stringify(offSessionAnswer.body));
        return;
      }
      const billed = billing.handle(req.method ?? "GET", path, form, url.searchParams);
      if (billed) {
        const body = JSON.stringify(billed.body);
        if (req.method === "POST" && idempotencyKey && billed.status === 200) {
          byIdempotencyKey.set(`${path}:${idempotencyKey}`, body);
          paramsByIdempotencyKey.set(`${path}:${idempotencyKey}`, params);
        }
        send(billed.status, body);
        return;
      }
      const subscriptionPath = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
      if (req.method === "GET" && subscriptionPath) {
        const found = subscriptions.get(decodeURIComponent(subscriptionPath[1] ?? ""));
        if (found) send(200, JSON.stringify(found));
        else
          send(
            404,
            JSON.stringify({
              error: {
                type: "invalid_request_error",
                code: "resource_missing",
                message: `No such subscription: '${subscriptionPath[1]}'`,
              },
            }),
          );
        return;
      }
      if (req.method !== "POST" || path !== "/v1/payment_intents") {
        send(
          404,
          JSON.stringify({ error: { type: "invalid_request_error", message: `No such route ${path}` } }),
        );
        return;
      }
      const replay = idempotencyKey ? byIdempotencyKey.get(idempotencyKey) : undefined;
      if (replay) {
        send(200, replay);
        return;
      }
      const id = `pi_fake_${++counter}`;
      const metadata = Object.fromEntries(
        [...form.entries()]
          .filter(([key]) => key.startsWith("metadata["))
          .map(([key, value]) => [key.slice("metadata[".length, -1), value]),
      );
      const body = JSON.stringify({
        id,
        object: "payment_intent",
        amount: Number(form.get("amount")),
        currency: form.get("currency"),
        description: form.get("description"),
        client_secret: `${id}_secret_fake`,
        status: "requires_payment_method",
        automatic_payment_methods: { enabled: form.get("automatic_payment_methods[enabled]") === "true" },
        metadata,
        livemode: false,
      });
      if (idempotencyKey) byIdempotencyKey.set(idempotencyKey, body);
      send(200, body);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    subscriptions,
    billing,
    offSession,
    setMode: (next) => {
      mode = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

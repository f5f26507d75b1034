import http from "node:http";
import Stripe from "stripe";
import { nowMs } from "./stats";

export const WEBHOOK_SECRET = "whsec_bench";
export const STRIPE_SECRET_KEY = "sk_test_bench";

/** Only signs, exactly as Stripe does; never makes a request. */
const signer = new Stripe("sk_test_x");

export type Purchase = { id: string; userId: string; packageId: string; paymentIntentId: string };
export type Delivery = { eventId: string; payload: string; duplicate: boolean };
export type Outcome = { status: number; outcome: string; ms: number };

/** Shaped like tests/support/stripe-events.ts: a succeeded PaymentIntent inside an event envelope. */
export function succeededEvent(
  eventId: string,
  purchase: Purchase,
  amount: number,
  currency: string,
): string {
  const created = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    id: eventId,
    object: "event",
    api_version: "2025-01-01",
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "payment_intent.succeeded",
    data: {
      object: {
        id: purchase.paymentIntentId,
        object: "payment_intent",
        livemode: false,
        created,
        amount,
        amount_received: amount,
        currency,
        status: "succeeded",
        latest_charge: `ch_bench_${purchase.paymentIntentId.slice(9)}`,
        last_payment_error: null,
        cancellation_reason: null,
        metadata: { purchaseId: purchase.id, userId: purchase.userId, packageId: purchase.packageId },
      },
    },
  });
}

function post(agent: http.Agent, url: URL, payload: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          // Signed at send time, as Stripe does for every delivery (re-sends included).
          "stripe-signature": signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

/** `senders` workers take the next delivery off one queue until it is empty. */
export async function send(url: URL, deliveries: readonly Delivery[], senders: number): Promise<Outcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: senders });
  const outcomes: Outcome[] = new Array(deliveries.length);
  let next = 0;
  const worker = async () => {
    while (next < deliveries.length) {
      const index = next++;
      const delivery = deliveries[index]!;
      const began = nowMs();
      try {
        const response = await post(agent, url, delivery.payload);
        let outcome = "";
        try {
          outcome = String(
            (JSON.parse(response.body) as { outcome?: unknown }).outcome ?? response.body.slice(0, 80),
          );
        } catch {
          outcome = response.body.slice(0, 80);
        }
        outcomes[index] = { status: response.status, outcome, ms: nowMs() - began };
      } catch (error) {
        outcomes[index] = {
          status: 0,
          outcome: error instanceof Error ? error.message : String(error),
          ms: nowMs() - began,
        };
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, worker));
  agent.destroy();
  return outcomes;
}

export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

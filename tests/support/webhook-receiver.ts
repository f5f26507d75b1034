import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** One request the receiver got: the Standard Webhooks headers and the raw body. */
export type ReceivedWebhook = {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** What the receiver answered (0: it never answered). */
  answeredWith: number;
};

/**
 * How the receiver answers the next request: a status, or `hang` (never answers: a slow receiver, or one
 * that dies mid-delivery).
 */
export type ReceiverMode = { status: number } | "hang";

/**
 * A local HTTP receiver of outbound events, like an operator's backend: it records every request and
 * answers as `answer` says (default 200). `url` is where to register it; `close` frees the port.
 */
export async function startWebhookReceiver(
  answer: (request: { id: string; count: number }) => ReceiverMode = () => ({ status: 200 }),
) {
  const received: ReceivedWebhook[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const id = String(request.headers["webhook-id"] ?? "");
      const mode = answer({ id, count: received.filter((r) => r.id === id).length + 1 });
      const record: ReceivedWebhook = {
        id,
        timestamp: String(request.headers["webhook-timestamp"] ?? ""),
        signature: String(request.headers["webhook-signature"] ?? ""),
        body: Buffer.concat(chunks).toString("utf8"),
        answeredWith: mode === "hang" ? 0 : mode.status,
      };
      received.push(record);
      if (mode === "hang") {
        hanging.add(response);
        return;
      }
      response.writeHead(mode.status, { "content-type": "text/plain" });
      response.end(mode.status < 300 ? "ok" : `failure ${mode.status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    /** The events a receiver would act on: answered 2xx, each id once, in order of arrival. */
    accepted(): ReceivedWebhook[] {
      const seen = new Set<string>();
      return received.filter((r) => {
        if (r.answeredWith < 200 || r.answeredWith >= 300 || seen.has(r.id)) return false;
        seen.add(r.id);
        return true;
      });
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Verifies a received request with the standardwebhooks library, as a receiver would; throws if forged. */
export function verifyWebhook(secret: string, received: ReceivedWebhook) {
  return new Webhook(secret).verify(received.body, {
    "webhook-id": received.id,
    "webhook-timestamp": received.timestamp,
    "webhook-signature": received.signature,
  }) as {
    id: string;
    type: string;
    createdAt: string;
    account: { userId: string; externalId: null };
    data: Record<string, unknown>;
  };
}

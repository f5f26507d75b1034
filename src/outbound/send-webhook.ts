import dns, { type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { Webhook } from "standardwebhooks";
import { classifyAddress, isAllowedClass } from "./address-policy";

/** What one attempt found: a 2xx answer is `ok`; `statusCode` is null when no answer came at all. */
export type SendResult = {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  /** The first RESPONSE_BODY_LIMIT characters of the answer's body, for the attempt log. */
  responseBody: string | null;
  durationMs: number;
};

/** How much of a receiver's answer the attempt log keeps. */
export const RESPONSE_BODY_LIMIT = 1000;

/** A receiver that has not answered after this long has failed the attempt (it is retried later). */
export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** The refusal of an address the policy forbids (src/outbound/address-policy.ts), as a network error. */
class RefusedAddressError extends Error {
  readonly code = "EADDRREFUSED";
  constructor(host: string, address: string) {
    super(
      `${host} is ${address === host ? "" : `at ${address}, `}an address events are not sent to (link-local, metadata, or private without WEBHOOK_ALLOW_PRIVATE_URLS=true)`,
    );
  }
}

/**
 * dns.lookup that fails unless every address the name resolves to is allowed: the socket then connects to
 * an address that was checked (no second lookup that DNS could answer differently).
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const refused = addresses.find((entry) => {
        const kind = classifyAddress(entry.address);
        return !kind || !isAllowedClass(kind, allowPrivate);
      });
      if (refused) return callback(new RefusedAddressError(hostname, refused.address), "", 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname}: no address`), { code: "ENOTFOUND" }), "", 0);
      callback(null, first.address, first.family);
    });
  };
}

type Answer = { statusCode: number; body: Promise<string> };

/**
 * One POST over node:http(s) with the guarded lookup; resolves with the status once the headers arrive,
 * and the first `limit` characters of the body (read until `deadline`, then the connection is closed).
 */
function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  allowPrivate: boolean,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "POST",
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      lookup: guardedLookup(allowPrivate),
      // One connection per delivery: a kept-alive socket would skip the lookup (and its check) next time.
      agent: false,
    });
    const timer = setTimeout(
      () => request.destroy(Object.assign(new Error("timed out"), { name: "TimeoutError" })),
      timeoutMs,
    );
    request.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on("response", (response) => {
      const text = new Promise<string>((done) => {
        let received = "";
        const finish = () => {
          clearTimeout(timer);
          done(received.slice(0, RESPONSE_BODY_LIMIT));
        };
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          received += chunk;
          // An endless or huge body is not read to its end.
          if (received.length >= RESPONSE_BODY_LIMIT) {
            response.destroy();
            finish();
          }
        });
        response.on("end", finish);
        response.on("close", finish);
        response.on("error", finish);
      });
      resolve({ statusCode: response.statusCode ?? 0, body: text });
    });
    request.end(body);
  });
}

/**
 * POSTs one event, signed per Standard Webhooks with the endpoint's `whsec_` secret: headers `webhook-id`
 * (the event id, the same on every retry, so the receiver drops duplicates by it), `webhook-timestamp`
 * (seconds, the moment of sending: receivers refuse old timestamps, so a retry is signed anew) and
 * `webhook-signature`. Success is any 2xx answer; a redirect is not followed (a receiver that moved is a
 * configuration to fix, and following it would send the event somewhere nobody chose). The address
 * connected to is checked after DNS (src/outbound/address-policy.ts): link-local and metadata never, loopback
 * and private networks only when `allowPrivate` (WEBHOOK_ALLOW_PRIVATE_URLS); a refused address fails the
 * attempt like a receiver that is down. Never throws.
 */
export async function sendWebhook(input: {
  url: string;
  secret: string;
  eventId: string;
  body: string;
  timeoutMs?: number;
  allowPrivate: boolean;
}): Promise<SendResult> {
  const started = performance.now();
  const sentAt = new Date();
  const elapsed = () => Math.round(performance.now() - started);
  const timeoutMs = input.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  try {
    const url = new URL(input.url);
    // An IP literal is connected to without a lookup: it is checked here.
    const literal = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const kind = classifyAddress(literal);
    if (kind && !isAllowedClass(kind, input.allowPrivate)) throw new RefusedAddressError(literal, literal);
    const signature = new Webhook(input.secret).sign(input.eventId, sentAt, input.body);
    const answer = await post(
      url,
      {
        "content-type": "application/json",
        "user-agent": "creditkit-webhooks/1",
        "webhook-id": input.eventId,
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signature,
      },
      input.body,
      timeoutMs,
      input.allowPrivate,
    );
    const responseBody = await answer.body;
    const ok = answer.statusCode >= 200 && answer.statusCode < 300;
    return {
      ok,
      statusCode: answer.statusCode,
      error: ok ? null : `HTTP ${answer.statusCode}`,
      responseBody,
      durationMs: elapsed(),
    };
  } catch (error) {
    const name = (error as Error).name;
    const reason = name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : describeNetworkError(error);
    return { ok: false, statusCode: null, error: reason, responseBody: null, durationMs: elapsed() };
  }
}

function describeNetworkError(error: unknown): string {
  const own = error as { code?: unknown; message?: string };
  if (typeof own.code === "string") return `${own.code}: ${own.message ?? ""}`.slice(0, 500);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`.slice(0, 500);
  return String((error as Error).message ?? error).slice(0, 500);
}

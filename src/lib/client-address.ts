import type { IncomingMessage } from "node:http";
import proxyaddr from "proxy-addr";
import { processSlot } from "@/lib/process-registry";

/**
 * The header in which `npm start` (scripts/server.mjs) hands the client's address to the app. The server
 * sets it on every request, replacing whatever the client sent, so it cannot be forged; Better Auth's
 * limiter reads only this header (src/auth/auth.ts).
 */
export const CLIENT_ADDRESS_HEADER = "x-creditkit-client-address";

/** Whether a proxy hop may be believed: `address` is the hop's address, `hop` 0 is the socket's peer. */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * Parses TRUST_PROXY with Express's rules (proxy-addr):
 * - unset or empty: no proxy is trusted; X-Forwarded-For is ignored and the socket's peer is the client;
 * - a hop count `N`: the nearest N hops are proxies (`1`: one load balancer in front);
 * - a comma-separated list of addresses, CIDR ranges or proxy-addr's names (`loopback`, `linklocal`,
 *   `uniquelocal`): hops with those addresses are proxies.
 * @throws Error naming TRUST_PROXY when the value is neither.
 */
export function parseTrustProxy(value: string | undefined): TrustProxy {
  const text = value?.trim();
  if (!text) return () => false;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return (_address, hop) => hop < hops;
  }
  try {
    return proxyaddr.compile(
      text
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean),
    );
  } catch (error) {
    throw new Error(
      `TRUST_PROXY: ${error instanceof Error ? error.message : String(error)} (use a hop count such as 1, or proxy addresses or CIDR ranges separated by commas)`,
    );
  }
}

// One flag per process (src/lib/process-registry.ts): set by the server, read by every copy of the app.
const marker = processSlot<{ fromSocket: boolean }>("clientAddressFromSocket", () => ({ fromSocket: false }));

/**
 * For the Node.js server (`npm start`): returns a function that writes the client's address — the socket's
 * peer, or, through the proxies TRUST_PROXY trusts, the nearest address they forwarded — into
 * {@link CLIENT_ADDRESS_HEADER} of each incoming request, replacing any value the client sent. Also tells
 * the app (same process) that the header can be believed.
 */
export function createClientAddressStamp(
  trustProxy: string | undefined,
): (incoming: IncomingMessage) => void {
  const trust = parseTrustProxy(trustProxy);
  marker.fromSocket = true;
  return (incoming) => {
    const address = proxyaddr(incoming, trust);
    incoming.headers[CLIENT_ADDRESS_HEADER] = address;
    // Hono's adapter builds its Request from rawHeaders, Next.js from headers: replace it in both.
    const raw = incoming.rawHeaders;
    for (let i = raw.length - 2; i >= 0; i -= 2) {
      if (raw[i]?.toLowerCase() === CLIENT_ADDRESS_HEADER) raw.splice(i, 2);
    }
    raw.push(CLIENT_ADDRESS_HEADER, address);
  };
}

/**
 * The client's address for a request the app received, or null when it cannot be known.
 *
 * Under `npm start` it is the header the server wrote from the socket. Under `next start` and `next dev`
 * the socket is out of the app's sight and Next.js passes X-Forwarded-For on as the client sent it (adding
 * the socket's address only when there was none), so it is believed only with TRUST_PROXY set, on the
 * assumption that the app is reachable only through those proxies: the peer counts as the first trusted
 * hop, and the address is the nearest forwarded one TRUST_PROXY does not trust. Without TRUST_PROXY it is
 * null there, and Better Auth limits all such clients together.
 */
export function clientAddress(headers: Headers, trustProxy: string | undefined): string | null {
  if (marker.fromSocket) return headers.get(CLIENT_ADDRESS_HEADER) || null;
  if (!trustProxy?.trim()) return null;
  const trust = parseTrustProxy(trustProxy);
  const forwarded = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .reverse();
  for (let index = 0; index < forwarded.length; index++) {
    const address = forwarded[index] as string;
    if (!trust(address, index + 1)) return address;
  }
  return forwarded.at(-1) ?? null;
}

/**
 * The same request with {@link CLIENT_ADDRESS_HEADER} set to {@link clientAddress} (or removed when it is
 * unknown), for code that reads the address from a header (Better Auth).
 */
export function withClientAddress(request: Request, trustProxy: string | undefined): Request {
  const address = clientAddress(request.headers, trustProxy);
  if (address === request.headers.get(CLIENT_ADDRESS_HEADER)) return request;
  const headers = new Headers(request.headers);
  if (address) headers.set(CLIENT_ADDRESS_HEADER, address);
  else headers.delete(CLIENT_ADDRESS_HEADER);
  return new Request(request, { headers });
}

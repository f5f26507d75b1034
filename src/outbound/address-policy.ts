import { isIP } from "node:net";
import { BLOCKED_HOST_REASON, PRIVATE_HOST_REASON } from "./refusal-reasons";

/**
 * Where outbound events may go (server-side request forgery): an endpoint URL is chosen by whoever holds an
 * `admin` API key or the console, and the server POSTs to it from inside its network and keeps the first
 * part of the answer, which the same key reads back. So the address actually connected to is checked:
 * - `blocked`, never allowed: link-local (169.254.0.0/16, fe80::/10, where the cloud metadata services
 *   answer with credentials), known metadata addresses elsewhere (fd00:ec2::254, 100.100.100.200),
 *   "this host" (0.0.0.0/8, ::), multicast, broadcast and the reserved 240.0.0.0/4;
 * - `private`, allowed only when WEBHOOK_ALLOW_PRIVATE_URLS says so (allowPrivateWebhookUrls()): loopback
 *   (127.0.0.0/8, ::1), the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) and carrier-grade NAT
 *   (100.64/10): a receiver on this machine or the local network, which tests and local development use;
 * - `public`: everything else.
 * IPv4 carried in IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96 NAT64, 2002::/16 6to4) is judged as IPv4.
 */
export type AddressClass = "public" | "private" | "blocked";

function ipv4Class(octets: number[]): AddressClass {
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  if (a === 0 || a >= 224) return "blocked"; // this host, multicast, reserved, broadcast
  if (a === 169 && b === 254) return "blocked"; // link-local, cloud metadata
  if (a === 100 && b === 100 && c === 100 && d === 200) return "blocked"; // Alibaba Cloud metadata
  if (a === 127 || a === 10) return "private";
  if (a === 172 && b >= 16 && b <= 31) return "private";
  if (a === 192 && b === 168) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private";
  return "public";
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** The eight 16-bit words of an IPv6 address (with an IPv4 tail), or null. */
function parseIpv6(text: string): number[] | null {
  let head = text.toLowerCase();
  const zone = head.indexOf("%");
  if (zone >= 0) head = head.slice(0, zone);
  const tail: number[] = [];
  const lastColon = head.lastIndexOf(":");
  const maybeV4 = head.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    const octets = parseIpv4(maybeV4);
    if (!octets) return null;
    tail.push(((octets[0] ?? 0) << 8) | (octets[1] ?? 0), ((octets[2] ?? 0) << 8) | (octets[3] ?? 0));
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const words = (part: string) =>
    part === "" ? [] : part.split(":").map((word) => Number.parseInt(word, 16));
  const left = words(halves[0] ?? "");
  const right = halves.length === 2 ? words(halves[1] ?? "") : [];
  const missing = 8 - tail.length - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return null;
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill(0), ...right, ...tail];
  return all.length === 8 && all.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffff)
    ? all
    : null;
}

function ipv6Class(w: number[]): AddressClass {
  const v4 = (hi: number, lo: number) => ipv4Class([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeros = (from: number, to: number) => w.slice(from, to).every((word) => word === 0);
  const [w0 = 0, w1 = 0, w2 = 0, , , w5 = 0, w6 = 0, w7 = 0] = w;
  if (zeros(0, 7) && w7 === 0) return "blocked"; // ::
  if (zeros(0, 7) && w7 === 1) return "private"; // ::1
  if (zeros(0, 5) && (w5 === 0xffff || w5 === 0)) return v4(w6, w7); // IPv4-mapped and -compatible
  if (w0 === 0x64 && w1 === 0xff9b && zeros(2, 6)) return v4(w6, w7); // NAT64
  if (w0 === 0x2002) return v4(w1, w2); // 6to4
  if ((w0 & 0xffc0) === 0xfe80) return "blocked"; // link-local
  if (w0 >= 0xff00) return "blocked"; // multicast
  if (w0 === 0xfd00 && w1 === 0x0ec2 && zeros(2, 7) && w7 === 0x254) return "blocked"; // AWS metadata
  if ((w0 & 0xfe00) === 0xfc00) return "private"; // unique local
  return "public";
}

/** The class of an IP address (IPv4 dotted or IPv6, brackets allowed); null when `text` is not one. */
export function classifyAddress(text: string): AddressClass | null {
  const address = text.replace(/^\[(.*)\]$/, "$1");
  if (isIP(address) === 4) {
    const octets = parseIpv4(address);
    return octets ? ipv4Class(octets) : null;
  }
  if (isIP(address.replace(/%.*$/, "")) === 6) {
    const words = parseIpv6(address);
    return words ? ipv6Class(words) : "blocked";
  }
  return null;
}

/** Names that are the machine itself or a cloud's metadata service, whatever DNS says. */
function hostNameClass(host: string): AddressClass | null {
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return "private";
  if (name === "metadata.google.internal" || name === "metadata" || name === "instance-data")
    return "blocked";
  return null;
}

/** Whether an address of this class may be sent to. */
export function isAllowedClass(kind: AddressClass, allowPrivate: boolean): boolean {
  return kind === "public" || (kind === "private" && allowPrivate);
}

/**
 * Why a URL's host may not receive events, judged without DNS (an IP literal or a known name); null when
 * it may (a name is checked again at delivery, on the addresses it resolves to: sendWebhook).
 */
export function refusedHostReason(url: URL, allowPrivate: boolean): string | null {
  const host = url.hostname;
  const kind = classifyAddress(host) ?? hostNameClass(host);
  if (!kind || isAllowedClass(kind, allowPrivate)) return null;
  return kind === "blocked" ? BLOCKED_HOST_REASON : PRIVATE_HOST_REASON;
}

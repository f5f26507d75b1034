import { getAuth } from "@/auth/session";
import { getServerEnv } from "@/config/env";
import { findUnstorableText, printablePathSegment, UNSTORABLE_TEXT_MESSAGE } from "@/credits/schemas";
import { withClientAddress } from "@/lib/client-address";
import { DEFAULT_MAX_BODY_BYTES, defineRoute } from "@/server/define-route";
import { classifyError } from "@/server/http-errors";

/**
 * The largest body the auth endpoints read: the app's own limit (16 kB). Sign-up, sign-in and profile
 * bodies are a few hundred bytes; without a bound, Better Auth reads any body whole into memory.
 */
const MAX_AUTH_BODY_BYTES = DEFAULT_MAX_BODY_BYTES;

/** Secrets are hashed, never stored as text: any character is theirs to use. */
const HASHED_FIELDS = new Set(["password", "newPassword", "currentPassword"]);

/** The JSON media types Better Auth's router parses as JSON (better-call's own test). */
const JSON_MEDIA_TYPE = /^application\/([a-z0-9.+-]*\+)?json/i;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

type Refusal = { status: number; code: string; message: string };

/**
 * Better Auth's endpoints, guarded before they run, in Better Auth's own error shape (`{code, message}`):
 * - a body larger than MAX_AUTH_BODY_BYTES is refused with 413 before this runs (the route's limit,
 *   maxBodyBytes below: a body sent in chunks is cut off while it is read, never read whole);
 * - text PostgreSQL cannot hold (U+0000, an unpaired surrogate) in a name, an email or any other stored
 *   field, in a JSON body, a form body (`application/x-www-form-urlencoded`, which sign-up and sign-in
 *   accept, or `multipart/form-data`) or the query string, is refused with a 400 that says which field,
 *   instead of reaching the database and coming back as an opaque 422 FAILED_TO_CREATE_USER or a 500;
 * - a JSON or form body that is not UTF-8 is refused with 400 (it would be stored as U+FFFD).
 * Returns the request to hand on (with the body already read, so it is not read twice) or a refusal.
 */
async function guard(request: Request): Promise<Request | Refusal> {
  // Query strings too: a `?token=%00` on the verification link would otherwise reach a query.
  const query = findUnstorableText(Object.fromEntries(new URL(request.url).searchParams));
  if (query) return unstorable(query);
  if (!request.body) return request;
  const bytes = Buffer.from(await request.arrayBuffer());
  const contentType = (request.headers.get("content-type") ?? "").toLowerCase();
  const fields = await storedFields(bytes, contentType);
  if (fields === "not_utf8")
    return { status: 400, code: "INVALID_INPUT", message: "The body is not valid UTF-8." };
  if (fields) {
    const path = findUnstorableText(fields);
    if (path) return unstorable(path);
  }
  const headers = new Headers(request.headers);
  // The body is handed on as the bytes read, so its length is known again.
  headers.delete("content-length");
  headers.delete("transfer-encoding");
  // An empty body is handed on as no body, which is what Better Auth expects of a bodiless POST (sign-out).
  return new Request(request.url, {
    method: request.method,
    headers,
    body: bytes.length > 0 ? new Uint8Array(bytes) : null,
  });
}

/**
 * The body's stored fields (top-level hashed fields left out), or null when the body is of a kind Better
 * Auth refuses or answers itself (malformed JSON, a media type it does not take).
 */
async function storedFields(
  bytes: Buffer,
  contentType: string,
): Promise<Record<string, unknown> | "not_utf8" | null> {
  let body: unknown = null;
  if (JSON_MEDIA_TYPE.test(contentType) || contentType.includes("application/x-www-form-urlencoded")) {
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      return "not_utf8";
    }
    if (contentType.includes("application/x-www-form-urlencoded")) {
      // Every value of a repeated name, as any of them may be the one read.
      body = groupValues(new URLSearchParams(text));
    } else {
      try {
        body = JSON.parse(text);
      } catch {
        return null; // Better Auth answers malformed bodies itself.
      }
    }
  } else if (contentType.includes("multipart/form-data")) {
    try {
      const form = await new Response(new Uint8Array(bytes), {
        headers: { "content-type": contentType },
      }).formData();
      body = groupValues(form);
    } catch {
      return null;
    }
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return null;
  return Object.fromEntries(Object.entries(body).filter(([key]) => !HASHED_FIELDS.has(key)));
}

/** Every value of each name (a repeated name's values all count, as any may be the one read); text only. */
function groupValues(entries: Iterable<[string, unknown]>): Record<string, string[]> {
  // A Map, so a field named `__proto__` is a field like any other.
  const grouped = new Map<string, string[]>();
  for (const [key, value] of entries) {
    if (typeof value !== "string") continue;
    const values = grouped.get(key) ?? [];
    values.push(value);
    grouped.set(key, values);
  }
  return Object.fromEntries(grouped);
}

function unstorable(path: (string | number)[]): Refusal {
  return {
    status: 400,
    code: "INVALID_INPUT",
    message: `${path.map(printablePathSegment).join(".")}: ${UNSTORABLE_TEXT_MESSAGE}`,
  };
}

/** Better Auth's endpoints; its limiter keys on the client address worked out here (src/lib/client-address.ts). */
async function handle(request: Request): Promise<Response> {
  const guarded = await guard(request);
  if (!(guarded instanceof Request))
    return Response.json({ code: guarded.code, message: guarded.message }, { status: guarded.status });
  const auth = await getAuth();
  return auth.handler(withClientAddress(guarded, getServerEnv().TRUST_PROXY));
}

/** A failure before the guard runs (a body past the limit: 413 PAYLOAD_TOO_LARGE) in Better Auth's shape. */
function answerError(error: unknown): Response {
  const { status, code, message } = classifyError(error);
  return Response.json({ code: code.toUpperCase(), message }, { status });
}

/** GET and POST /api/auth/*: Better Auth's endpoints (sign-up, sign-in, sessions, email links). */
export default defineRoute({
  method: ["GET", "POST"],
  path: "/api/auth/*",
  maxBodyBytes: MAX_AUTH_BODY_BYTES,
  answerError,
  handler: handle,
});

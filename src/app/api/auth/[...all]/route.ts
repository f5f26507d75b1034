import { getAuth } from "@/auth/session";
import { findUnstorableText, printablePathSegment, UNSTORABLE_TEXT_MESSAGE } from "@/credits/schemas";

/** Secrets are hashed, never stored as text: any character is theirs to use. */
const HASHED_FIELDS = new Set(["password", "newPassword", "currentPassword"]);

/**
 * A JSON body with a name, email or any other stored text PostgreSQL cannot hold (U+0000, an unpaired
 * surrogate) is refused here with a 400 that says which field, in Better Auth's own error shape
 * (`{code, message}`), instead of reaching the database and coming back as an opaque
 * 422 FAILED_TO_CREATE_USER (sign-up) or a 500 (profile updates).
 */
async function refuseUnstorableText(request: Request): Promise<Response | null> {
  // Query strings too: a `?token=%00` on the verification link would otherwise reach a query.
  const query = findUnstorableText(Object.fromEntries(new URL(request.url).searchParams));
  if (query) return invalidInput(query);
  if (request.method !== "POST" || !/^application\/json\b/i.test(request.headers.get("content-type") ?? ""))
    return null;
  let body: unknown;
  try {
    body = JSON.parse(await request.clone().text());
  } catch {
    return null; // Better Auth answers malformed bodies itself.
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return null;
  const stored = Object.fromEntries(Object.entries(body).filter(([key]) => !HASHED_FIELDS.has(key)));
  const path = findUnstorableText(stored);
  return path ? invalidInput(path) : null;
}

function invalidInput(path: (string | number)[]): Response {
  return Response.json(
    {
      code: "INVALID_INPUT",
      message: `${path.map(printablePathSegment).join(".")}: ${UNSTORABLE_TEXT_MESSAGE}`,
    },
    { status: 400 },
  );
}

import { getServerEnv } from "@/config/env";
import { withClientAddress } from "@/server/client-address";

/** Better Auth's endpoints; its limiter keys on the client address worked out here (src/server/client-address.ts). */
async function handle(request: Request): Promise<Response> {
  const refused = await refuseUnstorableText(request);
  if (refused) return refused;
  const auth = await getAuth();
  return auth.handler(withClientAddress(request, getServerEnv().TRUST_PROXY));
}

export { handle as GET, handle as POST };

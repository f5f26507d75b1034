import { headers } from "next/headers";
import { cache } from "react";
import { redirect } from "@/i18n/navigation";
import { safeNextPath } from "./safe-next-path";
import { getSessionFromHeaders } from "./session";

// Guards for pages and layouts (server components only: they read the request's headers). The proxy never
// decides who is signed in; each protected page calls one of these itself.

/** One session lookup per request, shared by the settings layout and its pages. Null when signed out. */
export const getCurrentSession = cache(async () => getSessionFromHeaders(await headers()));

/**
 * The signed-in session, or a redirect to the sign-in page (this call then does not return).
 * `returnTo` is the path (with its locale) the user comes back to after signing in.
 */
export async function requireSession(locale: string, returnTo: string) {
  const session = await getCurrentSession();
  if (!session) {
    return redirect({ href: { pathname: "/sign-in", query: { next: returnTo } }, locale });
  }
  return session;
}

/**
 * For the sign-in and sign-up pages: a visitor who is already signed in is redirected where the form
 * would have sent them, `next` when it is a safe in-app path (src/auth/safe-next-path.ts), the credits
 * page otherwise. Returns when nobody is signed in.
 */
export async function redirectSignedIn(locale: string, next: string | null): Promise<void> {
  if (await getCurrentSession()) {
    redirect({ href: safeNextPath(next) ?? "/settings/credits", locale });
  }
}

import { headers } from "next/headers";
import { cache } from "react";
import { getSessionFromHeaders } from "@/auth/session";
import { redirect } from "@/i18n/navigation";

/** One session lookup per request, shared by the settings layout and its pages. */
export const getCurrentSession = cache(async () => getSessionFromHeaders(await headers()));

/**
 * Protected layouts and pages call this themselves: the proxy never decides who is signed in.
 * `returnTo` is the path (with its locale) the user comes back to after signing in.
 */
export async function requireSession(locale: string, returnTo: string) {
  const session = await getCurrentSession();
  if (!session) {
    return redirect({ href: { pathname: "/sign-in", query: { next: returnTo } }, locale });
  }
  return session;
}

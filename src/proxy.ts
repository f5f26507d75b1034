import createMiddleware from "next-intl/middleware";
import { routing } from "./i18n/routing";

/**
 * Locale routing only: redirects `/` to `/en` (or the browser's language) and keeps the prefix on every page.
 * Authorization is never decided here; protected layouts, route handlers and actions check the session themselves.
 */
export const proxy = createMiddleware(routing);

export const config = {
  // Everything except API routes, Next internals and files with an extension (favicon.ico, robots.txt, ...).
  matcher: ["/((?!api|_next|_vercel|.*\\..*).*)"],
};

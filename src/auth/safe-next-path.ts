import { routing } from "@/i18n/routing";

/**
 * Turns a `?next=` value into an in-app path without its locale prefix, or null when it is unsafe.
 * Only same-origin absolute paths pass: `//evil.example` and `https://...` would be open redirects.
 * The locale is dropped so the user lands in the language they are using now, not the one in the link.
 */
export function safeNextPath(next: string | null | undefined): string | null {
  if (!next?.startsWith("/") || next.startsWith("//") || next.includes("\\")) return null;
  for (const locale of routing.locales) {
    if (next === `/${locale}`) return "/";
    if (next.startsWith(`/${locale}/`) || next.startsWith(`/${locale}?`)) {
      return next.slice(locale.length + 1).replace(/^\?/, "/?");
    }
  }
  return next;
}

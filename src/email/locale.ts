import { type AppLocale, routing } from "@/i18n/routing";

/**
 * The locale an address (URL or path) carries in its first path segment, e.g. `/zh/settings/credits`
 * → "zh"; null when it names none. Every page URL carries its locale (localePrefix "always").
 */
export function localeOfPath(address: string | null | undefined): AppLocale | null {
  if (!address) return null;
  let pathname: string;
  try {
    pathname = new URL(address, "http://localhost").pathname;
  } catch {
    return null;
  }
  const segment = pathname.split("/")[1] ?? "";
  return (routing.locales as readonly string[]).includes(segment) ? (segment as AppLocale) : null;
}

/** The first of the hints that names a locale, otherwise English (the default locale). */
export function emailLocale(...hints: (string | null | undefined)[]): AppLocale {
  for (const hint of hints) {
    const locale = localeOfPath(hint);
    if (locale) return locale;
  }
  return routing.defaultLocale;
}

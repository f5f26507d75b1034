import { defineRouting } from "next-intl/routing";

export const routing = defineRouting({
  locales: ["en", "zh"],
  defaultLocale: "en",
  // Every URL carries its locale, so a shared link always opens in the language it was shared in.
  localePrefix: "always",
});

export type AppLocale = (typeof routing.locales)[number];

import { useTranslations } from "next-intl";

export function SiteFooter() {
  const t = useTranslations("footer");
  return (
    <footer className="border-t">
      <div className="mx-auto flex max-w-6xl flex-col gap-1 px-4 py-6 text-muted-foreground text-sm sm:flex-row sm:items-center sm:justify-between sm:px-6">
        <p>{t("tagline")}</p>
        <div className="flex flex-wrap items-center gap-x-4 gap-y-1">
          {/* Route handlers, not localized pages: plain links. */}
          <nav aria-label={t("developerLinks")} className="flex items-center gap-4">
            <a href="/api/v1/docs" className="underline-offset-4 hover:text-foreground hover:underline">
              {t("apiDocs")}
            </a>
            <a
              href="/api/v1/openapi.json"
              className="underline-offset-4 hover:text-foreground hover:underline"
            >
              {t("openApi")}
            </a>
          </nav>
          <p>{t("builtWith")}</p>
        </div>
      </div>
    </footer>
  );
}

import { getTranslations, setRequestLocale } from "next-intl/server";
import type { ReactNode } from "react";
import { requireSession } from "@/components/auth/require-session";
import { SettingsNav } from "@/components/settings/settings-nav";

type LayoutProps = { children: ReactNode; params: Promise<{ locale: string }> };

export default async function SettingsLayout({ children, params }: LayoutProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireSession(locale, `/${locale}/settings/credits`);
  const t = await getTranslations("settings");

  return (
    <div className="mx-auto w-full max-w-6xl px-4 py-8 sm:px-6 sm:py-12">
      <div className="mb-8">
        <h1 className="font-semibold text-2xl tracking-tight sm:text-3xl">{t("title")}</h1>
        <p className="mt-1 text-muted-foreground">{t("subtitle")}</p>
      </div>
      <div className="flex flex-col gap-6 md:flex-row md:gap-10">
        <aside className="border-b pb-3 md:w-48 md:shrink-0 md:border-b-0 md:pb-0">
          <SettingsNav />
        </aside>
        <div className="min-w-0 flex-1">{children}</div>
      </div>
    </div>
  );
}

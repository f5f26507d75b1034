import { getTranslations, setRequestLocale } from "next-intl/server";
import type { ReactNode } from "react";
import { requireSession } from "@/auth/require-session";
import { SectionShell } from "@/components/section-shell";
import { SettingsNav } from "@/components/settings/settings-nav";

type LayoutProps = { children: ReactNode; params: Promise<{ locale: string }> };

export default async function SettingsLayout({ children, params }: LayoutProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireSession(locale, `/${locale}/settings/credits`);
  const t = await getTranslations("settings");

  return (
    <SectionShell title={t("title")} subtitle={t("subtitle")} nav={<SettingsNav />}>
      {children}
    </SectionShell>
  );
}

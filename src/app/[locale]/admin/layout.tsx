import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import type { ReactNode } from "react";
import { requireAdmin } from "@/auth/require-admin";
import { AdminNav } from "@/components/admin/admin-nav";
import { SectionShell } from "@/components/section-shell";

type LayoutProps = { children: ReactNode; params: Promise<{ locale: string }> };

export async function generateMetadata({ params }: Omit<LayoutProps, "children">): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t("adminTitle") };
}

export default async function AdminLayout({ children, params }: LayoutProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const t = await getTranslations("admin");

  return (
    <SectionShell title={t("title")} subtitle={t("subtitle")} nav={<AdminNav />}>
      {children}
    </SectionShell>
  );
}

import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { AuthCard } from "@/components/auth/auth-card";
import { AuthForm } from "@/components/auth/auth-form";
import { getCurrentSession } from "@/components/auth/require-session";
import { safeNextPath } from "@/components/auth/safe-next-path";
import { redirect } from "@/i18n/navigation";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ next?: string | string[] }>;
};

export async function generateMetadata({ params }: Pick<PageProps, "params">): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t("signInTitle") };
}

export default async function SignInPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  const { next: nextParam } = await searchParams;
  const next = typeof nextParam === "string" ? nextParam : null;
  // Already signed in: go where the form would have sent them.
  if (await getCurrentSession()) {
    redirect({ href: safeNextPath(next) ?? "/settings/credits", locale });
  }
  const t = await getTranslations("auth");

  return (
    <AuthCard title={t("signInTitle")} subtitle={t("signInSubtitle")}>
      <AuthForm mode="sign-in" next={next} />
    </AuthCard>
  );
}

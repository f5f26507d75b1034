import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { AuthCard } from "@/components/auth/auth-card";
import { RequestPasswordLinkForm } from "@/components/auth/request-password-link-form";
import { SetPasswordForm } from "@/components/auth/set-password-form";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ token?: string | string[]; error?: string | string[] }>;
};

export async function generateMetadata({ params }: Pick<PageProps, "params">): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t("resetPasswordTitle") };
}

/**
 * Where a mailed set-password link leads (Better Auth redirects here with `?token=`, or `?error=` when the
 * link expired), and "Forgot your password?" without a token: ask for a link.
 */
export default async function ResetPasswordPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  const { token, error } = await searchParams;
  const t = await getTranslations("auth");
  if (typeof token === "string" && token && !error) {
    return (
      <AuthCard title={t("resetTitle")} subtitle={t("resetSubtitle")}>
        <SetPasswordForm token={token} />
      </AuthCard>
    );
  }
  return (
    <AuthCard title={t("requestTitle")} subtitle={t("requestSubtitle")}>
      {error ? (
        <p role="alert" className="mb-5 text-destructive text-sm" data-testid="reset-link-invalid">
          {t("resetInvalidToken")}
        </p>
      ) : null}
      <RequestPasswordLinkForm />
    </AuthCard>
  );
}

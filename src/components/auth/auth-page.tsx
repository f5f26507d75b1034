import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { redirect } from "@/i18n/navigation";
import { AuthCard } from "./auth-card";
import { AuthForm } from "./auth-form";
import { getCurrentSession } from "./require-session";
import { safeNextPath } from "./safe-next-path";

type Mode = "sign-in" | "sign-up";

export type AuthPageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ next?: string | string[] }>;
};

const TITLE_KEYS = {
  "sign-in": { title: "signInTitle", subtitle: "signInSubtitle" },
  "sign-up": { title: "signUpTitle", subtitle: "signUpSubtitle" },
} as const;

export async function authPageMetadata(
  mode: Mode,
  { params }: Pick<AuthPageProps, "params">,
): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({ locale, namespace: "metadata" });
  return { title: t(TITLE_KEYS[mode].title) };
}

/** The sign-in and sign-up pages: the same card and form, told which mode to be in. */
export async function AuthPage({ mode, params, searchParams }: AuthPageProps & { mode: Mode }) {
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
    <AuthCard title={t(TITLE_KEYS[mode].title)} subtitle={t(TITLE_KEYS[mode].subtitle)}>
      <AuthForm mode={mode} next={next} />
    </AuthCard>
  );
}

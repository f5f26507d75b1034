import type { Metadata } from "next";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { AuthCard } from "./auth-card";
import { AuthForm } from "./auth-form";

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

/**
 * Reads the sign-in and sign-up pages' props and sets the request's locale for the translations. `next`
 * is the `?next=` value as sent (one string, or null): src/auth/safe-next-path.ts decides where it may lead.
 */
export async function readAuthPageProps({
  params,
  searchParams,
}: AuthPageProps): Promise<{ locale: string; next: string | null }> {
  const { locale } = await params;
  setRequestLocale(locale);
  const { next } = await searchParams;
  return { locale, next: typeof next === "string" ? next : null };
}

/** The sign-in and sign-up pages' content: the same card and form, told which mode to be in. */
export async function AuthPage({ mode, next }: { mode: Mode; next: string | null }) {
  const t = await getTranslations("auth");

  return (
    <AuthCard title={t(TITLE_KEYS[mode].title)} subtitle={t(TITLE_KEYS[mode].subtitle)}>
      <AuthForm mode={mode} next={next} />
    </AuthCard>
  );
}

import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { hasLocale, NextIntlClientProvider } from "next-intl";
import { getTranslations, setRequestLocale } from "next-intl/server";
import type { ReactNode } from "react";
import { SiteHeader } from "@/components/header/site-header";
import { Providers } from "@/components/providers";
import { SandboxBanner } from "@/components/sandbox-banner";
import { SiteFooter } from "@/components/site-footer";
import { routing } from "@/i18n/routing";
import { sandboxBannerShown } from "@/payment/payment-config";
import { inter } from "../fonts";
import "../globals.css";
import { loadHeader } from "./_loaders/load-header";

/** The header with what the server knows of the visitor, read while the page renders beside it. */
async function Header() {
  return <SiteHeader initial={await loadHeader()} />;
}

type LayoutProps = { children: ReactNode; params: Promise<{ locale: string }> };

export async function generateMetadata({ params }: Omit<LayoutProps, "children">): Promise<Metadata> {
  const { locale } = await params;
  const t = await getTranslations({
    locale: hasLocale(routing.locales, locale) ? locale : "en",
    namespace: "metadata",
  });
  return { title: t("title"), description: t("description") };
}

export default async function LocaleLayout({ children, params }: LayoutProps) {
  const { locale } = await params;
  if (!hasLocale(routing.locales, locale)) notFound();
  setRequestLocale(locale);

  return (
    <html lang={locale} className={inter.variable} suppressHydrationWarning>
      <body className="flex min-h-dvh flex-col font-sans">
        <NextIntlClientProvider>
          <Providers>
            {sandboxBannerShown() ? <SandboxBanner /> : null}
            <Header />
            <main className="flex flex-1 flex-col">{children}</main>
            <SiteFooter />
          </Providers>
        </NextIntlClientProvider>
      </body>
    </html>
  );
}

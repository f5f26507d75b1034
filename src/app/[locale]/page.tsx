import { ArrowRight, BookCheck, CreditCard, Hourglass } from "lucide-react";
import { headers } from "next/headers";
import { useTranslations } from "next-intl";
import { getTranslations, setRequestLocale } from "next-intl/server";
import { getSessionFromHeaders } from "@/auth/session";
import { listPackagesOnSale } from "@/catalog/packages";
import { PackageCard, usePackageName } from "@/components/pricing/package-card";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Link } from "@/i18n/navigation";

type PageProps = { params: Promise<{ locale: string }> };

export default async function HomePage({ params }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  const [t, session] = await Promise.all([getTranslations("home"), getSessionFromHeaders(await headers())]);
  const signedIn = session !== null;

  const features = [
    { icon: BookCheck, title: t("featureLedgerTitle"), text: t("featureLedgerText") },
    { icon: CreditCard, title: t("featurePaymentsTitle"), text: t("featurePaymentsText") },
    { icon: Hourglass, title: t("featureExpiryTitle"), text: t("featureExpiryText") },
  ];

  return (
    <>
      <section className="relative overflow-hidden border-b">
        <div
          aria-hidden
          className="pointer-events-none absolute inset-0 -z-10 bg-[radial-gradient(ellipse_60%_50%_at_50%_-10%,color-mix(in_oklch,var(--primary)_18%,transparent),transparent)]"
        />
        <div className="mx-auto flex max-w-3xl flex-col items-center px-4 pt-20 pb-16 text-center sm:px-6 sm:pt-28 sm:pb-20">
          <Badge
            variant="outline"
            className="mb-6 rounded-full bg-background/60 px-3 py-1 text-muted-foreground"
          >
            {t("eyebrow")}
          </Badge>
          <h1 className="text-balance font-semibold text-4xl tracking-tight sm:text-6xl">{t("title")}</h1>
          <p className="mt-6 max-w-2xl text-pretty text-lg text-muted-foreground">{t("subtitle")}</p>
          <div className="mt-10 flex flex-col gap-3 sm:flex-row">
            {signedIn ? (
              <Button asChild size="lg">
                <Link href="/settings/credits">
                  {t("ctaBuy")}
                  <ArrowRight />
                </Link>
              </Button>
            ) : (
              <Button asChild size="lg">
                <Link href={{ pathname: "/sign-up", query: { next: `/${locale}/settings/credits` } }}>
                  {t("ctaSignUp")}
                  <ArrowRight />
                </Link>
              </Button>
            )}
            <Button asChild size="lg" variant="outline">
              <Link href={{ pathname: "/", hash: "pricing" }}>{t("ctaPricing")}</Link>
            </Button>
          </div>
        </div>
        <div className="mx-auto grid max-w-6xl gap-4 px-4 pb-20 sm:grid-cols-3 sm:px-6">
          {features.map(({ icon: Icon, title, text }) => (
            <div key={title} className="rounded-xl border bg-card/60 p-5 backdrop-blur">
              <span className="flex size-9 items-center justify-center rounded-lg bg-primary/10 text-primary">
                <Icon className="size-4" aria-hidden />
              </span>
              <h2 className="mt-4 font-medium">{title}</h2>
              <p className="mt-1 text-muted-foreground text-sm">{text}</p>
            </div>
          ))}
        </div>
      </section>
      <PricingSection locale={locale} signedIn={signedIn} />
    </>
  );
}

function PricingSection({ locale, signedIn }: { locale: string; signedIn: boolean }) {
  const t = useTranslations();
  const packageName = usePackageName();
  const packages = listPackagesOnSale();

  return (
    <section id="pricing" className="mx-auto w-full max-w-6xl scroll-mt-16 px-4 py-20 sm:px-6">
      <div className="mx-auto max-w-2xl text-center">
        <h2 className="text-balance font-semibold text-3xl tracking-tight sm:text-4xl">
          {t("home.pricingTitle")}
        </h2>
        <p className="mt-4 text-muted-foreground">{t("home.pricingSubtitle")}</p>
      </div>
      <div className="mt-14 grid items-stretch gap-6 sm:grid-cols-2 lg:grid-cols-4">
        {packages.map((pkg) => {
          const target = `/${locale}/settings/credits?buy=${pkg.id}`;
          return (
            <PackageCard
              key={pkg.id}
              pkg={pkg}
              action={
                <Button asChild className="w-full" variant={pkg.popular ? "default" : "outline"}>
                  <Link
                    href={
                      signedIn
                        ? { pathname: "/settings/credits", query: { buy: pkg.id } }
                        : { pathname: "/sign-up", query: { next: target } }
                    }
                    aria-label={t(signedIn ? "pricing.buyPackage" : "pricing.getStartedWith", {
                      name: packageName(pkg),
                    })}
                  >
                    {signedIn ? t("pricing.buy") : t("pricing.getStarted")}
                  </Link>
                </Button>
              }
            />
          );
        })}
      </div>
      <p className="mt-10 text-center text-muted-foreground text-xs">{t("home.pricingNote")}</p>
    </section>
  );
}

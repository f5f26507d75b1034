import { Check, Sparkles } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import type { ReactNode } from "react";
import { formatMoney } from "@/catalog/format-money";
import type { CreditPackage } from "@/catalog/packages";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardDescription, CardFooter, CardHeader, CardTitle } from "@/components/ui/card";
import { cn } from "@/lib/utils";
import { usePlanName } from "./plan-card";

/** The translated display name of a package; unknown ids (a package added without messages) show the id. */
export function usePackageName(): (pkg: Pick<CreditPackage, "id">) => string {
  const t = useTranslations("packages");
  return (pkg) => {
    const key = `${pkg.id}.name`;
    return t.has(key) ? t(key) : pkg.id;
  };
}

/**
 * What a purchase bought, in the reader's language: a package's name, or for a paid subscription invoice
 * (`kind` `subscription_invoice`, whose `packageId` names the plan) "Pro plan invoice".
 */
export function usePurchaseName(): (purchase: { kind: string; packageId: string }) => string {
  const packageName = usePackageName();
  const planName = usePlanName();
  const t = useTranslations("pricing");
  return (purchase) =>
    purchase.kind === "subscription_invoice"
      ? t("planInvoice", { plan: planName({ id: purchase.packageId }) })
      : packageName({ id: purchase.packageId });
}

/**
 * One package on the landing page and on the credits page. Hook-only (no "use client"), so it renders
 * on the server for the landing page and inside the client grid on the credits page; `action` is the button.
 */
export function PackageCard({
  pkg,
  action,
  className,
}: {
  pkg: CreditPackage;
  action: ReactNode;
  className?: string;
}) {
  const t = useTranslations();
  const locale = useLocale();
  const name = usePackageName()(pkg);
  const description = t.has(pkg.description) ? t(pkg.description) : "";

  return (
    <Card
      data-testid={`package-${pkg.id}`}
      data-popular={pkg.popular || undefined}
      className={cn(
        "relative gap-5 transition-shadow hover:shadow-md",
        pkg.popular && "border-primary/60 shadow-md ring-2 ring-primary md:-my-2 md:py-8",
        className,
      )}
    >
      {pkg.popular ? (
        <Badge className="absolute -top-3 left-1/2 -translate-x-1/2 px-2.5 py-1 shadow-sm">
          <Sparkles aria-hidden />
          {t("pricing.mostPopular")}
        </Badge>
      ) : null}
      <CardHeader>
        <CardTitle className="text-base">{name}</CardTitle>
        <CardDescription className="min-h-10">{description}</CardDescription>
      </CardHeader>
      <CardContent className="flex flex-1 flex-col gap-5">
        <div>
          <div className="flex flex-wrap items-baseline gap-x-1.5">
            <span className="font-semibold text-4xl tracking-tight">{formatMoney(pkg.price, locale)}</span>
            <span className="whitespace-nowrap text-muted-foreground text-sm">{t("pricing.oneTime")}</span>
          </div>
          <p className="mt-1 font-medium text-primary text-sm">
            {t("pricing.credits", { count: pkg.credits })}
          </p>
        </div>
        <ul className="flex flex-col gap-2 text-muted-foreground text-sm">
          <li className="flex items-start gap-2">
            <Check className="mt-0.5 size-4 shrink-0 text-success" aria-hidden />
            {t("pricing.instantDelivery")}
          </li>
          <li
            className="flex items-start gap-2"
            data-testid={pkg.expireDays ? `expiry-${pkg.id}` : undefined}
          >
            <Check className="mt-0.5 size-4 shrink-0 text-success" aria-hidden />
            {pkg.expireDays ? t("pricing.expires", { days: pkg.expireDays }) : t("pricing.neverExpire")}
          </li>
        </ul>
      </CardContent>
      <CardFooter>{action}</CardFooter>
    </Card>
  );
}

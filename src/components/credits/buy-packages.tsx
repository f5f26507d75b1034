"use client";

import { useMutation } from "@tanstack/react-query";
import { FlaskConical, LoaderCircle } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { type CreditPackage, listPackagesOnSale } from "@/catalog/packages";
import { PackageCard, usePackageName } from "@/components/pricing/package-card";
import { Button } from "@/components/ui/button";
import { usePathname, useRouter } from "@/i18n/navigation";
import { ApiError, startPurchase } from "./credits-api";
import { type Checkout, PayDialog } from "./pay-dialog";

const BUY_ERROR_KEYS: Record<string, string> = {
  package_unavailable: "buyErrorPackageUnavailable",
  payment_provider_unavailable: "buyErrorProviderUnavailable",
  rate_limited: "buyErrorRateLimited",
  unauthorized: "buyErrorUnauthorized",
};

export type PaymentClientConfig = { provider: "stripe" | "sandbox"; publishableKey: string | null };

/**
 * The package grid of the credits page. "Buy" asks the server for a PaymentIntent (the server decides the
 * price), then opens the pay dialog for whichever provider the server runs.
 */
export function BuyPackages({
  paymentConfig,
  autoBuy,
}: {
  paymentConfig: PaymentClientConfig;
  /** A package id from `?buy=` (the landing page's Buy buttons): start that purchase on arrival. */
  autoBuy: string | null;
}) {
  const t = useTranslations();
  const locale = useLocale();
  const router = useRouter();
  const pathname = usePathname();
  const packageName = usePackageName();
  const packages = listPackagesOnSale();
  const purchase = useMutation({ mutationFn: startPurchase });
  // The package whose purchase is being started: one at a time.
  const pendingId = purchase.isPending ? purchase.variables : null;
  const [checkout, setCheckout] = useState<Checkout | null>(null);

  /** Known codes get a translated message; anything else shows the server's own message. */
  function describeBuyError(error: { code: string; message: string }): string {
    const key = BUY_ERROR_KEYS[error.code];
    return key ? t(`credits.${key}`) : error.message || t("credits.buyError");
  }

  async function buy(pkg: CreditPackage) {
    if (pendingId) return;
    const retry = { label: t("common.tryAgain"), onClick: () => void buy(pkg) };
    try {
      const data = await purchase.mutateAsync(pkg.id);
      setCheckout({
        kind: "package",
        pkg,
        purchaseId: data.purchaseId,
        paymentIntentId: data.paymentIntentId,
        clientSecret: data.clientSecret,
        provider: data.provider,
        // The answer's key wins; the page's config covers a server that leaves the key out.
        publishableKey: data.publishableKey ?? paymentConfig.publishableKey,
      });
    } catch (error) {
      if (!(error instanceof ApiError && error.code)) {
        // The network, or an answer without the API's error body.
        toast.error(t("credits.buyError"), { action: retry });
      } else if (error.code === "unauthorized") {
        router.push({ pathname: "/sign-in", query: { next: `/${locale}${pathname}` } });
      } else {
        toast.error(describeBuyError({ code: error.code, message: error.message }), {
          action: error.retryable ? retry : undefined,
        });
      }
    }
  }

  // Start the purchase the landing page asked for, once, then drop `?buy=` so a reload does not repeat it.
  const autoBuyStarted = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once for the id in the URL on arrival.
  useEffect(() => {
    if (!autoBuy || autoBuyStarted.current) return;
    autoBuyStarted.current = true;
    router.replace(pathname, { scroll: false });
    const pkg = listPackagesOnSale().find((candidate) => candidate.id === autoBuy);
    if (pkg) void buy(pkg);
  }, [autoBuy]);

  return (
    <>
      {paymentConfig.provider === "sandbox" ? (
        <p
          data-testid="sandbox-notice"
          className="flex w-fit items-center gap-2 rounded-full border border-warning/50 bg-warning/10 px-3 py-1 font-medium text-xs"
        >
          <FlaskConical className="size-3.5" aria-hidden />
          {t("pay.testModeTitle")}
        </p>
      ) : null}
      <div className="grid items-stretch gap-6 pt-2 sm:grid-cols-2">
        {packages.map((pkg) => {
          const loading = pendingId === pkg.id;
          return (
            <PackageCard
              key={pkg.id}
              pkg={pkg}
              className="md:my-0 md:py-6"
              action={
                <Button
                  className="w-full"
                  variant={pkg.popular ? "default" : "outline"}
                  onClick={() => void buy(pkg)}
                  disabled={pendingId !== null}
                  aria-busy={loading}
                  aria-label={t("pricing.buyPackage", { name: packageName(pkg) })}
                  data-testid={`buy-${pkg.id}`}
                >
                  {loading ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
                  {t("pricing.buy")}
                </Button>
              }
            />
          );
        })}
      </div>
      <PayDialog checkout={checkout} onClose={() => setCheckout(null)} />
    </>
  );
}

"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CreditCard, RefreshCw } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import { type FormEvent, useId, useState } from "react";
import { formatAmountText, parseAmountText } from "@/catalog/currencies";
import { formatMoney } from "@/catalog/format-money";
import { findPackageOnSale, listPackagesOnSale } from "@/catalog/packages";
import { usePackageName } from "@/components/pricing/package-card";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { type AutoTopUpView, removeCard, saveAutoTopUp } from "./auto-top-up-api";
import { ApiError, creditsKeys } from "./credits-api";
import { SaveCardDialog } from "./save-card-dialog";
import { useAutoTopUp } from "./use-auto-top-up";

const controlClass =
  "h-9 w-full min-w-0 rounded-md border border-input bg-background px-3 py-1 text-base shadow-xs outline-none md:text-sm dark:bg-input/30 focus-visible:border-ring focus-visible:ring-[3px] focus-visible:ring-ring/50 aria-invalid:border-destructive";

type FormError = "errorThreshold" | "errorCap" | "errorCardRequired" | "saveFailed";

/**
 * The auto top-up setting on the credits page: the saved card (saved through a SetupIntent in the "Save a
 * card" dialog), on or off, the package, the threshold in credits and the monthly limit in the package's
 * currency; this month's top-ups against the limit and the recent attempts.
 */
export function AutoTopUpCard({ initial }: { initial: AutoTopUpView | null }) {
  const t = useTranslations("autoTopUp");
  const locale = useLocale();
  const format = useFormatter();
  const id = useId();
  const packageName = usePackageName();
  const queryClient = useQueryClient();
  const { data } = useAutoTopUp(initial);
  const packages = listPackagesOnSale();
  const [enabled, setEnabled] = useState(initial?.enabled ?? false);
  const [packageId, setPackageId] = useState(initial?.packageId ?? packages[0]?.id ?? "");
  const [threshold, setThreshold] = useState(String(initial?.thresholdCredits ?? ""));
  const [cap, setCap] = useState(
    initial ? formatAmountText({ amount: initial.monthlyCapAmount, currency: initial.currency }) : "",
  );
  const [error, setError] = useState<FormError | null>(null);
  const [cardDialog, setCardDialog] = useState(false);
  const pkg = findPackageOnSale(packageId) ?? packages[0];
  const price = pkg ? formatMoney(pkg.price, locale) : "";

  const save = useMutation({
    mutationFn: saveAutoTopUp,
    onSuccess: (view) => {
      queryClient.setQueryData(creditsKeys.autoTopUp, view);
      setEnabled(view.enabled);
    },
    onError: (failure) =>
      setError(
        failure instanceof ApiError && failure.code === "card_required" ? "errorCardRequired" : "saveFailed",
      ),
  });
  const remove = useMutation({
    mutationFn: removeCard,
    onSuccess: (view) => {
      queryClient.setQueryData(creditsKeys.autoTopUp, view);
      setEnabled(false);
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!pkg) return;
    const credits = Number(threshold);
    if (!/^\d+$/.test(threshold.trim()) || !Number.isSafeInteger(credits) || credits < 1) {
      setError("errorThreshold");
      return;
    }
    const amount = parseAmountText(cap, pkg.price.currency);
    if (!amount.ok || amount.amount < pkg.price.amount) {
      setError("errorCap");
      return;
    }
    if (enabled && !data?.card) {
      setError("errorCardRequired");
      return;
    }
    setError(null);
    save.mutate({
      enabled,
      packageId: pkg.id,
      thresholdCredits: credits,
      monthlyCapAmount: amount.amount,
      locale: locale === "zh" ? "zh" : "en",
    });
  }

  const current = data;
  const savedPkg = current ? findPackageOnSale(current.packageId) : undefined;
  const summary =
    current?.enabled && savedPkg
      ? t("statusOn", {
          threshold: current.thresholdCredits,
          name: packageName(savedPkg),
          price: formatMoney(savedPkg.price, locale),
        })
      : t("statusOff");
  const errorId = `${id}-error`;

  return (
    <Card className="gap-4" role="region" aria-labelledby={`${id}-title`}>
      <CardHeader>
        <CardTitle id={`${id}-title`} className="flex items-center gap-2 text-base">
          <RefreshCw className="size-4 text-primary" aria-hidden />
          {t("title")}
        </CardTitle>
        <CardDescription>{t("subtitle")}</CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-5">
        <div className="flex flex-col gap-2 rounded-lg border p-3 sm:flex-row sm:items-center sm:justify-between">
          <div className="flex items-center gap-2 text-sm">
            <CreditCard className="size-4 text-muted-foreground" aria-hidden />
            <span className="font-medium">{t("cardTitle")}:</span>
            <span>
              {current?.card
                ? t("cardSaved", {
                    brand: current.card.brand.charAt(0).toUpperCase() + current.card.brand.slice(1),
                    last4: current.card.last4,
                  })
                : t("cardNone")}
            </span>
          </div>
          <div className="flex gap-2">
            <Button type="button" size="sm" variant="outline" onClick={() => setCardDialog(true)}>
              {current?.card ? t("replaceCard") : t("saveCard")}
            </Button>
            {current?.card ? (
              <Button
                type="button"
                size="sm"
                variant="ghost"
                disabled={remove.isPending}
                onClick={() => remove.mutate()}
              >
                {t("removeCard")}
              </Button>
            ) : null}
          </div>
        </div>
        {remove.isError ? (
          <p role="alert" className="text-destructive text-sm">
            {t("removeFailed")}
          </p>
        ) : null}

        <form onSubmit={submit} noValidate className="flex flex-col gap-3">
          <div className="flex items-center gap-2">
            <input
              id={`${id}-enabled`}
              type="checkbox"
              role="switch"
              aria-checked={enabled}
              className="size-4 accent-primary"
              checked={enabled}
              onChange={(event) => {
                setEnabled(event.target.checked);
                setError(null);
              }}
            />
            <Label htmlFor={`${id}-enabled`}>{t("enabled")}</Label>
          </div>
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
            <div className="flex flex-col gap-1.5">
              <Label htmlFor={`${id}-package`}>{t("package")}</Label>
              <select
                id={`${id}-package`}
                className={controlClass}
                value={packageId}
                onChange={(event) => setPackageId(event.target.value)}
              >
                {packages.map((option) => (
                  <option key={option.id} value={option.id}>
                    {t("packageOption", {
                      name: packageName(option),
                      credits: option.credits,
                      price: formatMoney(option.price, locale),
                    })}
                  </option>
                ))}
              </select>
            </div>
            <div className="flex flex-col gap-1.5">
              <Label htmlFor={`${id}-threshold`}>{t("threshold")}</Label>
              <Input
                id={`${id}-threshold`}
                inputMode="numeric"
                value={threshold}
                onChange={(event) => setThreshold(event.target.value)}
                aria-invalid={error === "errorThreshold" ? true : undefined}
                aria-describedby={error === "errorThreshold" ? errorId : undefined}
              />
            </div>
            <div className="flex flex-col gap-1.5">
              <Label htmlFor={`${id}-cap`}>
                {t("cap", { currency: (pkg?.price.currency ?? "usd").toUpperCase() })}
              </Label>
              <Input
                id={`${id}-cap`}
                inputMode="decimal"
                value={cap}
                onChange={(event) => setCap(event.target.value)}
                aria-invalid={error === "errorCap" ? true : undefined}
                aria-describedby={error === "errorCap" ? errorId : undefined}
              />
            </div>
          </div>
          <div>
            <Button type="submit" disabled={save.isPending} aria-busy={save.isPending}>
              {t("save")}
            </Button>
          </div>
          {error ? (
            <p id={errorId} role="alert" className="text-destructive text-sm">
              {error === "errorCap" ? t("errorCap", { price }) : t(error)}
            </p>
          ) : null}
          <p aria-live="polite" className="text-muted-foreground text-sm">
            {save.isSuccess && !error ? `${t("saved")} ${summary}` : summary}
          </p>
          {current?.configured ? (
            <p className="text-muted-foreground text-sm">
              {t("month", {
                spent: formatMoney({ amount: current.month.spent, currency: current.currency }, locale),
                cap: formatMoney({ amount: current.month.cap, currency: current.currency }, locale),
              })}
            </p>
          ) : null}
        </form>

        {current && current.attempts.length > 0 ? (
          <div className="flex flex-col gap-1.5">
            <h3 className="font-medium text-sm">{t("recentTitle")}</h3>
            <ul className="flex flex-col gap-1 text-muted-foreground text-sm">
              {current.attempts.map((attempt) => (
                <li key={attempt.id}>
                  {t("attemptLine", {
                    date: format.dateTime(new Date(attempt.createdAt), {
                      dateStyle: "medium",
                      timeStyle: "short",
                    }),
                    price: formatMoney({ amount: attempt.amount, currency: attempt.currency }, locale),
                    status: t("attemptStatus", { status: attempt.status }),
                  })}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </CardContent>
      <SaveCardDialog open={cardDialog} onClose={() => setCardDialog(false)} />
    </Card>
  );
}

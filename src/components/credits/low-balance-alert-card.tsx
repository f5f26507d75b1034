"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { BellRing } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import { type FormEvent, useId, useState } from "react";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  creditsKeys,
  type LowBalanceAlert,
  type LowBalanceThreshold,
  saveLowBalanceAlert,
} from "./credits-api";
import { useLowBalanceAlert } from "./use-low-balance-alert";

type Mode = "off" | "credits" | "percent";

const controlClass =
  "h-9 w-full min-w-0 rounded-md border border-input bg-background px-3 py-1 text-base shadow-xs outline-none md:text-sm dark:bg-input/30 focus-visible:border-ring focus-visible:ring-[3px] focus-visible:ring-ring/50 aria-invalid:border-destructive";

function modeOf(threshold: LowBalanceThreshold | null | undefined): Mode {
  if (!threshold) return "off";
  return "credits" in threshold ? "credits" : "percent";
}

function thresholdText(threshold: LowBalanceThreshold | null | undefined): string {
  if (!threshold) return "";
  return String("credits" in threshold ? threshold.credits : threshold.percent);
}

/** What the form holds, as the API takes it; null with an error key when it holds no valid threshold. */
function parse(mode: Mode, value: string): { threshold: LowBalanceThreshold | null } | { error: string } {
  if (mode === "off") return { threshold: null };
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < 1)
    return { error: mode === "credits" ? "lowBalanceErrorCredits" : "lowBalanceErrorPercent" };
  if (mode === "percent" && number > 100) return { error: "lowBalanceErrorPercent" };
  return { threshold: mode === "credits" ? { credits: number } : { percent: number } };
}

/**
 * The low-balance alert setting: off, a number of credits, or a percentage of the current plan's monthly
 * credits. Crossing it sends one email (in the language of this page) and shows the banner on the balance
 * card until the balance is back above it.
 */
export function LowBalanceAlertCard({ initialAlert }: { initialAlert: LowBalanceAlert | null }) {
  const t = useTranslations("credits");
  const locale = useLocale();
  const id = useId();
  const queryClient = useQueryClient();
  const query = useLowBalanceAlert(initialAlert);
  const [mode, setMode] = useState<Mode>(modeOf(initialAlert?.threshold));
  const [value, setValue] = useState(thresholdText(initialAlert?.threshold));
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (threshold: LowBalanceThreshold | null) => saveLowBalanceAlert(threshold, locale),
    onSuccess: (alert) => {
      queryClient.setQueryData(creditsKeys.lowBalanceAlert, alert);
      setMode(modeOf(alert.threshold));
      setValue(thresholdText(alert.threshold));
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parse(mode, value);
    if ("error" in parsed) {
      setError(parsed.error);
      return;
    }
    setError(null);
    save.mutate(parsed.threshold);
  }

  const current = query.data;
  const summary = !current?.threshold
    ? t("lowBalanceOff")
    : "credits" in current.threshold
      ? t("lowBalanceOnCredits", { credits: current.threshold.credits })
      : t("lowBalanceOnPercent", {
          percent: current.threshold.percent,
          credits: current.effectiveThreshold ?? 0,
        });
  const valueId = `${id}-value`;
  const errorId = `${id}-error`;

  return (
    <Card className="gap-4" data-testid="low-balance-alert" role="region" aria-labelledby={`${id}-title`}>
      <CardHeader>
        <CardTitle id={`${id}-title`} className="flex items-center gap-2 text-base">
          <BellRing className="size-4 text-primary" aria-hidden />
          {t("lowBalanceTitle")}
        </CardTitle>
        <CardDescription>{t("lowBalanceSubtitle")}</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-[minmax(0,14rem)_minmax(0,10rem)_auto] sm:items-end">
            <div className="flex flex-col gap-1.5">
              <Label htmlFor={`${id}-mode`}>{t("lowBalanceMode")}</Label>
              <select
                id={`${id}-mode`}
                className={controlClass}
                value={mode}
                onChange={(event) => {
                  setMode(event.target.value as Mode);
                  setError(null);
                }}
                data-testid="low-balance-mode"
              >
                <option value="off">{t("lowBalanceModeOff")}</option>
                <option value="credits">{t("lowBalanceModeCredits")}</option>
                <option value="percent">{t("lowBalanceModePercent")}</option>
              </select>
            </div>
            {mode === "off" ? null : (
              <div className="flex flex-col gap-1.5">
                <Label htmlFor={valueId}>
                  {mode === "credits" ? t("lowBalanceCreditsLabel") : t("lowBalancePercentLabel")}
                </Label>
                <Input
                  id={valueId}
                  inputMode="numeric"
                  value={value}
                  onChange={(event) => setValue(event.target.value)}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errorId : undefined}
                  data-testid="low-balance-value"
                />
              </div>
            )}
            <Button
              type="submit"
              disabled={save.isPending}
              aria-busy={save.isPending}
              data-testid="low-balance-save"
            >
              {t("lowBalanceSave")}
            </Button>
          </div>
          {error ? (
            <p id={errorId} className="text-destructive text-sm">
              {t(error as "lowBalanceErrorCredits")}
            </p>
          ) : null}
          <p aria-live="polite" className="text-muted-foreground text-sm" data-testid="low-balance-summary">
            {save.isError ? (
              <span className="text-destructive">{t("lowBalanceSaveFailed")}</span>
            ) : save.isSuccess ? (
              `${t("lowBalanceSaved")} ${summary}`
            ) : (
              summary
            )}
          </p>
        </form>
      </CardContent>
    </Card>
  );
}

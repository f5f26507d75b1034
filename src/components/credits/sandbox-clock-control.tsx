"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CircleAlert, CircleCheck, FastForward, FlaskConical, LoaderCircle } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { useTimeZone } from "@/components/format/date-time";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";
import { creditsKeys } from "./credits-api";
import {
  type AdvancedSubscription,
  advanceSubscription,
  type PlanOnSale,
  type Subscription,
} from "./subscription-api";

type Result = { tone: "success" | "warning"; text: string };

/**
 * Test mode only: "Advance to next renewal" moves this subscription's clock to the end of its period
 * (POST /api/sandbox/subscriptions/{id}/advance), where the sandbox renews it as Stripe would: the
 * period's unused credits expire (or roll over), the kept card is charged, and the next period's credits
 * arrive. The server answers after the renewal's events were applied, so the balance and the history read
 * right after it already show the new credits.
 */
export function SandboxClockControl({
  subscription,
  plan,
}: {
  subscription: Subscription;
  plan: PlanOnSale | undefined;
}) {
  const t = useTranslations("subscription");
  const format = useFormatter();
  const timeZone = useTimeZone();
  const queryClient = useQueryClient();
  const [result, setResult] = useState<Result | null>(null);

  function describe(answer: AdvancedSubscription): Result {
    const renewed = answer.subscription;
    if (!answer.invoice) return { tone: "warning", text: t("clockEnded") };
    if (answer.invoice.status !== "paid") return { tone: "warning", text: t("clockRenewalFailed") };
    const credits = plan?.creditsPerPeriod ?? 0;
    const range = (start: string, end: string) =>
      format.dateTimeRange(new Date(start), new Date(end), { dateStyle: "medium", timeZone });
    // A yearly plan's next month within the paid year: nothing was renewed, that month's credits came.
    if (answer.slot)
      return {
        tone: "success",
        text: t("clockNextMonth", { period: range(answer.slot.start, answer.slot.end), credits }),
      };
    const period =
      renewed?.currentPeriodStart && renewed.currentPeriodEnd
        ? range(renewed.currentPeriodStart, renewed.currentPeriodEnd)
        : "";
    return { tone: "success", text: t("clockRenewed", { period, credits }) };
  }

  const advance = useMutation({
    mutationFn: () => advanceSubscription(subscription.id),
    onSuccess(answer) {
      queryClient.setQueryData(creditsKeys.subscription, answer.subscription);
      void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
      const described = describe(answer);
      setResult(described);
      if (described.tone === "success") toast.success(described.text);
      else toast.warning(described.text);
    },
    onError() {
      setResult(null);
      toast.error(t("clockError"));
    },
  });

  return (
    <div
      className="flex flex-col gap-3 rounded-lg border border-warning/50 bg-warning/10 p-3 text-sm"
      data-testid="sandbox-clock"
    >
      <div className="flex flex-col gap-3 sm:flex-row sm:items-center">
        <div className="flex flex-1 gap-2">
          <FlaskConical className="mt-0.5 size-4 shrink-0" aria-hidden />
          <div>
            <p className="font-medium">{t("clockTitle")}</p>
            <p className="mt-0.5 text-muted-foreground">{t("clockText")}</p>
          </div>
        </div>
        <Button
          size="sm"
          variant="outline"
          className="shrink-0 max-sm:ml-6 max-sm:self-start"
          onClick={() => advance.mutate()}
          disabled={advance.isPending}
          aria-busy={advance.isPending}
          data-testid="advance-renewal"
        >
          {advance.isPending ? (
            <LoaderCircle className="animate-spin" aria-hidden />
          ) : (
            <FastForward aria-hidden />
          )}
          {t("clockAdvance")}
        </Button>
      </div>
      {result ? (
        <p
          role="status"
          data-testid="advance-result"
          data-tone={result.tone}
          className={cn(
            "flex items-start gap-2 border-warning/40 border-t pt-3 font-medium",
            result.tone === "success" ? "text-success" : "text-foreground",
          )}
        >
          {result.tone === "success" ? (
            <CircleCheck className="mt-0.5 size-4 shrink-0" aria-hidden />
          ) : (
            <CircleAlert className="mt-0.5 size-4 shrink-0" aria-hidden />
          )}
          {result.text}
        </p>
      ) : null}
    </div>
  );
}

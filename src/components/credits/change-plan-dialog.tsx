"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Check, LoaderCircle } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import { useState } from "react";
import { toast } from "sonner";
import { formatMoney } from "@/catalog/format-money";
import { useTimeZone } from "@/components/format/date-time";
import { usePlanName } from "@/components/pricing/plan-card";
import { Button } from "@/components/ui/button";
import {
  Dialog,
  DialogClose,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog";
import { cn } from "@/lib/utils";
import { ApiError, creditsKeys } from "./credits-api";
import { changeSubscriptionPlan, type PlanOnSale, type Subscription } from "./subscription-api";
import { usePlans } from "./use-subscription";

/**
 * When a move from `from` to `to` takes effect, by the server's rule (src/payment/sandbox/change-sandbox-plan.ts
 * planChangeTiming): more credits a month, or monthly → yearly, now; anything else at the renewal.
 */
function takesEffectNow(from: PlanOnSale, to: PlanOnSale): boolean {
  if (from.interval !== to.interval) return to.interval === "year";
  if (to.creditsPerPeriod !== from.creditsPerPeriod) return to.creditsPerPeriod > from.creditsPerPeriod;
  return to.price.amount > from.price.amount;
}

/**
 * "Change plan": lists the other paid plans with their price and monthly credits and says when each
 * change applies: an upgrade charges the prorated difference now and adds the extra credits for the rest of
 * the period; a downgrade takes effect on the renewal date, keeping this period's credits. While a change
 * is scheduled, the current plan is offered too, to take it back. PATCH /api/credits/subscription.
 */
export function ChangePlanDialog({ subscription }: { subscription: Subscription }) {
  const t = useTranslations();
  const format = useFormatter();
  const locale = useLocale();
  const timeZone = useTimeZone();
  const planName = usePlanName();
  const queryClient = useQueryClient();
  const plans = usePlans();
  const [open, setOpen] = useState(false);
  const [chosen, setChosen] = useState<string | null>(null);

  const current = plans.data?.find((plan) => plan.id === subscription.planId);
  const scheduled = subscription.scheduledPlanId ?? null;
  const renewal = subscription.currentPeriodEnd
    ? format.dateTime(new Date(subscription.currentPeriodEnd), { dateStyle: "medium", timeZone })
    : "—";
  const choices = (plans.data ?? []).filter(
    (plan) => plan.price.amount > 0 && (plan.id !== subscription.planId || scheduled !== null),
  );
  const selected = choices.find((plan) => plan.id === chosen);

  const change = useMutation({
    mutationFn: changeSubscriptionPlan,
    onSuccess(answer) {
      queryClient.setQueryData(creditsKeys.subscription, answer.subscription);
      void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
      const name = planName({ id: selected?.id ?? subscription.planId });
      toast.success(
        answer.change.kind === "changed_now"
          ? t("subscription.changedNow", { name })
          : answer.change.kind === "scheduled"
            ? t("subscription.changeScheduled", { name, date: renewal })
            : t("subscription.changeUnscheduled", { name }),
      );
      setOpen(false);
      setChosen(null);
    },
    onError(error) {
      const code = error instanceof ApiError ? error.code : null;
      toast.error(
        code === "card_declined"
          ? t("subscription.changeErrorDeclined")
          : code === "authentication_required"
            ? t("subscription.changeErrorAuthentication")
            : code === "subscription_not_changeable"
              ? t("subscription.changeErrorNotChangeable")
              : t("subscription.changeError"),
      );
    },
  });

  function explanation(plan: PlanOnSale): string {
    const name = planName({ id: plan.id });
    if (plan.id === subscription.planId) return t("subscription.changeKeepText", { name });
    if (current && takesEffectNow(current, plan))
      return plan.interval !== current.interval
        ? t("subscription.changeIntervalText", { name })
        : t("subscription.changeUpgradeText", { name });
    return t("subscription.changeDowngradeText", { name, date: renewal });
  }

  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        if (change.isPending) return;
        setOpen(next);
        if (!next) setChosen(null);
      }}
    >
      <DialogTrigger asChild>
        <Button variant="outline" size="sm" data-testid="change-plan">
          {t("subscription.changePlan")}
        </Button>
      </DialogTrigger>
      <DialogContent closeLabel={t("common.close")} data-testid="change-plan-dialog">
        <DialogHeader>
          <DialogTitle>{t("subscription.changeTitle")}</DialogTitle>
          <DialogDescription>{t("subscription.changeText", { date: renewal })}</DialogDescription>
        </DialogHeader>
        <div role="radiogroup" aria-label={t("subscription.changeTitle")} className="flex flex-col gap-2">
          {choices.map((plan) => {
            const isChosen = plan.id === chosen;
            return (
              // biome-ignore lint/a11y/useSemanticElements: a card-sized choice, announced as a radio.
              <button
                key={plan.id}
                type="button"
                role="radio"
                aria-checked={isChosen}
                onClick={() => setChosen(plan.id)}
                disabled={change.isPending}
                data-testid={`change-plan-${plan.id}`}
                className={cn(
                  "flex items-start gap-3 rounded-lg border p-3 text-left text-sm transition-colors",
                  isChosen ? "border-primary bg-primary/5" : "hover:bg-muted/50",
                )}
              >
                <span
                  aria-hidden
                  className={cn(
                    "mt-0.5 flex size-4 shrink-0 items-center justify-center rounded-full border",
                    isChosen && "border-primary bg-primary text-primary-foreground",
                  )}
                >
                  {isChosen ? <Check className="size-3" /> : null}
                </span>
                <span className="flex flex-1 flex-col gap-0.5">
                  <span className="font-medium">
                    {plan.id === subscription.planId
                      ? t("subscription.changeKeep", { name: planName({ id: plan.id }) })
                      : planName({ id: plan.id })}
                  </span>
                  <span className="text-muted-foreground">
                    {t("subscription.planSummary", {
                      price: formatMoney(plan.price, locale),
                      interval: plan.interval,
                      credits: plan.creditsPerPeriod,
                    })}
                  </span>
                </span>
              </button>
            );
          })}
        </div>
        {selected ? (
          <p className="text-muted-foreground text-sm" role="status" data-testid="change-plan-explanation">
            {explanation(selected)}
          </p>
        ) : null}
        <DialogFooter>
          <DialogClose asChild>
            <Button variant="outline" disabled={change.isPending}>
              {t("subscription.changeBack")}
            </Button>
          </DialogClose>
          <Button
            onClick={() => selected && change.mutate(selected.id)}
            disabled={!selected || change.isPending}
            aria-busy={change.isPending}
            data-testid="change-plan-confirm"
          >
            {change.isPending ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
            {t("subscription.changeConfirm")}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

import { Check, CircleCheck, Gift } from "lucide-react";
import { useLocale, useTranslations } from "next-intl";
import type { ReactNode } from "react";
import { formatMoney } from "@/catalog/format-money";
import type { Money } from "@/catalog/packages";
import type { PlanInterval, Rollover } from "@/catalog/plans";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardDescription, CardFooter, CardHeader, CardTitle } from "@/components/ui/card";
import { cn } from "@/lib/utils";

/** What a plan card shows: the shape of GET /api/credits/plans' plans (prices in minor units). */
export type PlanCardPlan = {
  id: string;
  interval: PlanInterval;
  price: Money;
  creditsPerPeriod: number;
  rollover: Rollover;
  /** The plan's trial (days, credits), or null; the card shows it only when `trialAvailable` says so. */
  trial?: { days: number; credits: number } | null;
};

/** The translated display name of a plan; unknown ids (a plan added without messages) show the id. */
export function usePlanName(): (plan: Pick<PlanCardPlan, "id">) => string {
  const t = useTranslations("plans");
  return (plan) => {
    const key = `${plan.id}.name`;
    return t.has(key) ? t(key) : plan.id;
  };
}

/** A plan's rollover policy in words: what happens to a month's unspent credits. */
export function useRolloverText(): (rollover: Rollover) => string {
  const t = useTranslations("subscription");
  return (rollover) =>
    rollover.policy === "capped"
      ? t("rolloverCapped", { cap: rollover.cap })
      : rollover.policy === "unlimited"
        ? t("rolloverUnlimited")
        : t("rolloverNone");
}

/**
 * One plan on the credits page: price per interval, credits per month, the rollover policy, the trial
 * (when the user can still have it), and the user's current plan marked. Hook-only (no "use client"), like PackageCard, so a server page can render
 * it too; `action` is the button.
 */
export function PlanCard({
  plan,
  current,
  action,
  className,
  trialAvailable = true,
}: {
  plan: PlanCardPlan;
  current: boolean;
  action: ReactNode;
  className?: string;
  /** False for a user who has had their trial (once per user ever): the plan's trial is not shown. */
  trialAvailable?: boolean;
}) {
  const t = useTranslations();
  const locale = useLocale();
  const name = usePlanName()(plan);
  const rolloverText = useRolloverText();
  const descriptionKey = `plans.${plan.id}.description`;
  const free = plan.price.amount === 0;

  return (
    <Card
      data-testid={`plan-${plan.id}`}
      data-current={current || undefined}
      aria-current={current || undefined}
      className={cn(
        "relative gap-5 transition-shadow hover:shadow-md",
        current && "border-primary/60 shadow-md ring-2 ring-primary",
        className,
      )}
    >
      {current ? (
        <Badge
          className="absolute -top-3 left-1/2 -translate-x-1/2 px-2.5 py-1 shadow-sm"
          data-testid="current-plan-badge"
        >
          <CircleCheck aria-hidden />
          {t("subscription.currentPlan")}
        </Badge>
      ) : null}
      <CardHeader>
        <CardTitle className="text-base">{name}</CardTitle>
        <CardDescription className="min-h-10">
          {t.has(descriptionKey) ? t(descriptionKey) : ""}
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-1 flex-col gap-5">
        <div>
          <div className="flex flex-wrap items-baseline gap-x-1.5">
            <span className="font-semibold text-3xl tracking-tight" data-testid={`plan-price-${plan.id}`}>
              {formatMoney(plan.price, locale)}
            </span>
            <span className="whitespace-nowrap text-muted-foreground text-sm">
              {plan.interval === "year" ? t("subscription.perYear") : t("subscription.perMonth")}
            </span>
          </div>
          <p className="mt-1 font-medium text-primary text-sm">
            {t("subscription.creditsPerMonth", { count: plan.creditsPerPeriod })}
          </p>
        </div>
        {plan.trial && trialAvailable ? (
          <p
            className="flex items-center gap-2 rounded-md bg-primary/10 px-2.5 py-1.5 font-medium text-primary text-sm"
            data-testid={`plan-trial-${plan.id}`}
          >
            <Gift className="size-4 shrink-0" aria-hidden />
            {t("subscription.trialOffer", { days: plan.trial.days, credits: plan.trial.credits })}
          </p>
        ) : null}
        <ul className="flex flex-col gap-2 text-muted-foreground text-sm">
          <li className="flex items-start gap-2" data-testid={`plan-rollover-${plan.id}`}>
            <Check className="mt-0.5 size-4 shrink-0 text-success" aria-hidden />
            {rolloverText(plan.rollover)}
          </li>
          <li className="flex items-start gap-2">
            <Check className="mt-0.5 size-4 shrink-0 text-success" aria-hidden />
            {free
              ? t("subscription.noCard")
              : plan.interval === "year"
                ? t("subscription.billedYearly")
                : t("subscription.billedMonthly")}
          </li>
        </ul>
      </CardContent>
      <CardFooter>{action}</CardFooter>
    </Card>
  );
}

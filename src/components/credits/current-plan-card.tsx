"use client";

import { CalendarClock, CircleAlert, CreditCard, LoaderCircle } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import type { ReactNode } from "react";
import { formatMoney } from "@/catalog/format-money";
import { useTimeZone } from "@/components/format/date-time";
import { usePlanName, useRolloverText } from "@/components/pricing/plan-card";
import { Badge, type BadgeProps } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardAction, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { cn } from "@/lib/utils";
import { CancelSubscriptionDialog } from "./cancel-subscription-dialog";
import { ChangePlanDialog } from "./change-plan-dialog";
import { ManageBillingButton } from "./manage-billing-button";
import { SandboxClockControl } from "./sandbox-clock-control";
import type { PlanOnSale, Subscription } from "./subscription-api";
import { PLAN_IN_FORCE } from "./use-subscription";

const STATUS_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  active: "success",
  trialing: "success",
  incomplete: "warning",
  past_due: "destructive",
  unpaid: "destructive",
  paused: "secondary",
  canceled: "secondary",
};

/**
 * The user's subscription: plan, status, current period, next renewal, the credits each period grants
 * and what happens to unused ones; cancel at the period's end, and in test mode the clock that moves the
 * subscription to its next renewal. A subscription whose first payment failed offers to pay again.
 */
export function CurrentPlanCard({
  subscription,
  plan,
  sandbox,
  completing,
  onCompletePayment,
}: {
  subscription: Subscription;
  /** The plan from GET /api/credits/plans; undefined while the plans load or for a plan no longer sold. */
  plan: PlanOnSale | undefined;
  sandbox: boolean;
  /** A subscribe request is under way (the "Complete payment" button waits for it). */
  completing: boolean;
  onCompletePayment: (() => void) | undefined;
}) {
  const t = useTranslations("subscription");
  const format = useFormatter();
  const locale = useLocale();
  const timeZone = useTimeZone();
  const planName = usePlanName();
  const rolloverText = useRolloverText();
  const name = planName({ id: subscription.planId });

  const inForce = PLAN_IN_FORCE.has(subscription.status);
  const ending = inForce && subscription.cancelAtPeriodEnd;
  const start = subscription.currentPeriodStart;
  const end = subscription.currentPeriodEnd;
  const day = (iso: string) => format.dateTime(new Date(iso), { dateStyle: "medium", timeZone });
  const endDay = end ? day(end) : null;

  const trialing = subscription.status === "trialing";
  const statusText =
    ending && endDay
      ? t("status.ending", { date: endDay })
      : trialing && endDay
        ? t("trialUntil", { date: endDay })
        : statusLabel(subscription.status);
  function statusLabel(status: string): string {
    const key = `status.${status}`;
    return t.has(key) ? t(key) : t("status.unknown");
  }

  if (subscription.status === "canceled") {
    return (
      <Card className="gap-0 py-4" data-testid="current-plan" data-status={subscription.status}>
        <CardContent className="flex items-center gap-3 text-sm">
          <CalendarClock className="size-4 shrink-0 text-muted-foreground" aria-hidden />
          <p className="text-muted-foreground">
            {endDay ? t("endedText", { name, date: endDay }) : statusLabel("canceled")}
          </p>
        </CardContent>
      </Card>
    );
  }

  return (
    <Card
      className="relative gap-5 overflow-hidden"
      role="region"
      aria-labelledby="current-plan-title"
      data-testid="current-plan"
      data-status={subscription.status}
    >
      <div
        aria-hidden
        className="pointer-events-none absolute -top-16 -right-16 size-48 rounded-full bg-primary/10 blur-2xl"
      />
      <CardHeader>
        <CardTitle className="font-medium text-muted-foreground text-sm">{t("yourPlan")}</CardTitle>
        <CardDescription className="sr-only">{t("subtitle")}</CardDescription>
        <CardAction>
          <Badge
            variant={ending ? "warning" : (STATUS_VARIANTS[subscription.status] ?? "secondary")}
            data-testid="current-plan-status"
          >
            {statusText}
          </Badge>
        </CardAction>
      </CardHeader>
      <CardContent className="flex flex-col gap-5">
        <div>
          <p
            id="current-plan-title"
            className="font-semibold text-3xl tracking-tight"
            data-testid="current-plan-name"
          >
            {name}
          </p>
          {plan ? (
            <p className="mt-1 text-muted-foreground text-sm">
              {t("planSummary", {
                price: formatMoney(plan.price, locale),
                interval: plan.interval,
                credits: plan.creditsPerPeriod,
              })}
            </p>
          ) : null}
          {inForce && subscription.scheduledPlanId && endDay ? (
            <p className="mt-1 font-medium text-sm" data-testid="current-plan-scheduled">
              {t("scheduledChange", { name: planName({ id: subscription.scheduledPlanId }), date: endDay })}
            </p>
          ) : null}
        </div>

        {subscription.status === "incomplete" ? (
          <Notice
            tone="warning"
            icon={<CreditCard className="mt-0.5 size-4 shrink-0" aria-hidden />}
            title={t("incompleteTitle")}
            text={t("incompleteText")}
            testId="current-plan-incomplete"
            action={
              onCompletePayment ? (
                <Button
                  size="sm"
                  onClick={onCompletePayment}
                  disabled={completing}
                  aria-busy={completing}
                  data-testid="complete-payment"
                >
                  {completing ? <LoaderCircle className="animate-spin" aria-hidden /> : null}
                  {t("completePayment")}
                </Button>
              ) : null
            }
          />
        ) : (
          <dl className="grid gap-4 rounded-lg border bg-muted/30 p-4 text-sm sm:grid-cols-3">
            <Detail label={t("periodLabel")} testId="current-plan-period">
              {start && end
                ? format.dateTimeRange(new Date(start), new Date(end), { dateStyle: "medium", timeZone })
                : "—"}
            </Detail>
            <Detail
              label={ending ? t("endsLabel") : trialing ? t("firstChargeLabel") : t("renewsLabel")}
              testId="current-plan-renewal"
            >
              {end ? <time dateTime={end}>{endDay}</time> : "—"}
            </Detail>
            <Detail label={t("creditsLabel")} testId="current-plan-credits">
              {plan && inForce
                ? t("creditsValue", {
                    // During the trial, what the trial granted; the monthly credits begin at its end.
                    count: trialing && plan.trial ? plan.trial.credits : plan.creditsPerPeriod,
                  })
                : "—"}
            </Detail>
            {plan ? (
              <div className="sm:col-span-3">
                <dt className="sr-only">{t("rolloverLabel")}</dt>
                <dd className="text-muted-foreground" data-testid="current-plan-rollover">
                  {rolloverText(plan.rollover)}
                </dd>
              </div>
            ) : null}
          </dl>
        )}

        {inForce && subscription.period ? <PeriodUsageMeter period={subscription.period} /> : null}

        {trialing && !ending && endDay && plan ? (
          <Notice
            tone="muted"
            icon={<CalendarClock className="mt-0.5 size-4 shrink-0 text-muted-foreground" aria-hidden />}
            title={t("trialUntil", { date: endDay })}
            text={t("trialText", { price: formatMoney(plan.price, locale), date: endDay })}
            testId="current-plan-trial"
          />
        ) : null}
        {subscription.status === "past_due" ? (
          <Notice
            tone="destructive"
            icon={<CircleAlert className="mt-0.5 size-4 shrink-0" aria-hidden />}
            title={t("pastDueTitle")}
            text={t("pastDueText")}
            testId="current-plan-past-due"
          />
        ) : null}
        {ending && endDay ? (
          <Notice
            tone="muted"
            icon={<CalendarClock className="mt-0.5 size-4 shrink-0 text-muted-foreground" aria-hidden />}
            title={t("endingTitle", { date: endDay })}
            text={t("endingText")}
            testId="current-plan-ending"
          />
        ) : null}

        {sandbox && inForce ? <SandboxClockControl subscription={subscription} plan={plan} /> : null}

        {inForce && !subscription.cancelAtPeriodEnd ? (
          <div className="flex justify-end gap-2">
            {sandbox ? null : <ManageBillingButton />}
            {subscription.status === "active" ? <ChangePlanDialog subscription={subscription} /> : null}
            <CancelSubscriptionDialog planName={name} periodEnd={endDay} />
          </div>
        ) : null}
      </CardContent>
    </Card>
  );
}

function Detail({ label, testId, children }: { label: string; testId: string; children: ReactNode }) {
  return (
    <div className="flex flex-col gap-1">
      <dt className="text-muted-foreground text-xs">{label}</dt>
      <dd className="font-medium tabular-nums" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

const NOTICE_TONES = {
  warning: "border-warning/50 bg-warning/10",
  destructive: "border-destructive/30 bg-destructive/10 text-destructive",
  muted: "bg-muted/40",
} as const;

function Notice({
  tone,
  icon,
  title,
  text,
  action,
  testId,
}: {
  tone: keyof typeof NOTICE_TONES;
  icon: ReactNode;
  title: string;
  text: string;
  action?: ReactNode;
  testId: string;
}) {
  return (
    <div
      role={tone === "muted" ? "status" : "alert"}
      data-testid={testId}
      className={cn(
        "flex flex-col gap-3 rounded-lg border p-3 text-sm sm:flex-row sm:items-center",
        NOTICE_TONES[tone],
      )}
    >
      <div className="flex flex-1 gap-2">
        {icon}
        <div>
          <p className="font-medium">{title}</p>
          <p className={cn("mt-0.5", tone !== "destructive" && "text-muted-foreground")}>{text}</p>
        </div>
      </div>
      {action ? <div className="shrink-0 max-sm:pl-6">{action}</div> : null}
    </div>
  );
}

/**
 * This period's credits: how many of them were used and are left (a meter), and what happens to those
 * left at the period's end: carried over up to the plan's cap, expired, or kept. Credits a refund or a
 * dispute took back are not "used" (the user did not spend them): a line of their own says so.
 */
function PeriodUsageMeter({ period }: { period: NonNullable<Subscription["period"]> }) {
  const t = useTranslations("subscription");
  const format = useFormatter();
  const timeZone = useTimeZone();
  const range = format.dateTimeRange(new Date(period.periodStart), new Date(period.periodEnd), {
    dateStyle: "medium",
    timeZone,
  });
  const expires = period.expiresAt
    ? format.dateTime(new Date(period.expiresAt), { dateStyle: "medium", timeZone })
    : null;
  const usedPercent = period.granted > 0 ? Math.round((period.used / period.granted) * 100) : 0;
  return (
    <section
      className="flex flex-col gap-2 text-sm"
      aria-labelledby="period-usage-title"
      data-testid="period-usage"
    >
      <div className="flex flex-wrap items-baseline justify-between gap-x-3 gap-y-1">
        <h3 id="period-usage-title" className="font-medium">
          {t("usageTitle")} <span className="font-normal text-muted-foreground">{range}</span>
        </h3>
        <p className="text-muted-foreground tabular-nums" data-testid="period-usage-used">
          {t("usageUsed", { used: period.used, granted: period.granted })}
        </p>
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: a native <meter> cannot be styled alike in every browser. */}
      <div
        role="meter"
        aria-label={t("usageTitle")}
        aria-valuemin={0}
        aria-valuemax={period.granted}
        aria-valuenow={period.used}
        aria-valuetext={t("usageUsed", { used: period.used, granted: period.granted })}
        className="h-2 overflow-hidden rounded-full bg-muted"
      >
        <div
          className="h-full rounded-full bg-primary transition-[width]"
          style={{ width: `${usedPercent}%` }}
        />
      </div>
      <p className="text-muted-foreground" data-testid="period-usage-left">
        <span className="font-medium text-foreground tabular-nums">
          {t("usageLeft", { left: period.left })}
        </span>
        {" · "}
        {period.rollsOver === null || !expires
          ? t("usageNeverExpire")
          : period.rollsOver > 0
            ? t("usageRollsOver", { count: period.rollsOver, date: expires })
            : t("usageExpires", { date: expires })}
      </p>
      {period.takenBack > 0 ? (
        <p className="text-muted-foreground tabular-nums" data-testid="period-usage-taken-back">
          {t("usageTakenBack", { count: period.takenBack })}
        </p>
      ) : null}
    </section>
  );
}

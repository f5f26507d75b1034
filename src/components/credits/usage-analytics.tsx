"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { CalendarClock, ChartColumn, Hourglass, TrendingUp } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { type ReactNode, useState, useSyncExternalStore } from "react";
import { useTimeZone } from "@/components/format/date-time";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { USAGE_RANGES } from "@/credits/schemas";
import type { FeatureId } from "@/features/cost-catalog";
import { cn } from "@/lib/utils";
import { type CreditUsage, creditsKeys, fetchUsage, type UsageRange } from "./credits-api";
import { FEATURE_MESSAGE_KEYS } from "./transaction-text";
import {
  BalanceChart,
  ChartFrame,
  ExpiringChart,
  OTHER_COLOR,
  SERIES_COLORS,
  SpendChart,
  type SpendRow,
} from "./usage-charts";

function subscribeNever(): () => void {
  return () => undefined;
}

/** False while hydrating (the server rendered in UTC), true once the browser's time zone is known. */
function useHydrated(): boolean {
  return useSyncExternalStore(
    subscribeNever,
    () => true,
    () => false,
  );
}

/** A `YYYY-MM-DD` calendar day as a Date to format in UTC (the day is already the reader's). */
const calendarDay = (date: string) => new Date(`${date}T00:00:00Z`);

/**
 * The usage view on the credits page: credits spent per day by feature, the balance over time, what
 * expires in the next four weeks and when the credits run out at the last 14 days' pace, over 7, 30 or 90
 * days in the reader's time zone. The data comes from GET /api/credits/usage, cached under ["credits"]
 * so a spend or a purchase refreshes it. Each chart is one labelled image with its values in a visually
 * hidden table; the forecast and the totals are plain text.
 */
export function UsageAnalytics() {
  const t = useTranslations("credits");
  const timeZone = useTimeZone();
  const hydrated = useHydrated();
  const [range, setRange] = useState<UsageRange>(30);
  const query = useQuery({
    queryKey: creditsKeys.usage(range, timeZone),
    queryFn: ({ signal }) => fetchUsage(range, timeZone, signal),
    // Only once the browser's zone is known: a first fetch in the server's UTC would be thrown away.
    enabled: hydrated,
    placeholderData: keepPreviousData,
  });
  const data = query.data;

  return (
    <section
      aria-labelledby="usage-title"
      aria-busy={query.isFetching || !data}
      className="flex flex-col gap-6"
      data-testid="usage-analytics"
    >
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <div>
          <h2 id="usage-title" className="font-semibold text-xl tracking-tight">
            {t("usageTitle")}
          </h2>
          <p className="mt-1 text-muted-foreground text-sm">{t("usageSubtitle")}</p>
        </div>
        <fieldset className="flex gap-1 self-start rounded-lg border bg-muted/40 p-1 sm:self-auto">
          <legend className="sr-only">{t("usageRange")}</legend>
          {USAGE_RANGES.map((days) => (
            <Button
              key={days}
              type="button"
              size="sm"
              variant={range === days ? "default" : "ghost"}
              aria-pressed={range === days}
              onClick={() => setRange(days)}
              data-testid={`usage-range-${days}`}
            >
              {t("usageRangeDays", { count: days })}
            </Button>
          ))}
        </fieldset>
      </div>

      {data ? (
        <div
          className={cn("flex flex-col gap-4 transition-opacity", query.isPlaceholderData && "opacity-60")}
        >
          <ForecastCard data={data} />
          <SpendCard data={data} />
          <div className="grid gap-4 lg:grid-cols-2">
            <BalanceCard data={data} />
            <ExpiringCard data={data} />
          </div>
        </div>
      ) : query.isError ? (
        <Card className="items-start gap-3 px-6" role="alert">
          <p className="text-sm">{t("usageError")}</p>
          <Button type="button" variant="outline" size="sm" onClick={() => query.refetch()}>
            {t("usageRetry")}
          </Button>
        </Card>
      ) : (
        <UsageSkeleton label={t("usageLoading")} />
      )}
    </section>
  );
}

function UsageSkeleton({ label }: { label: string }) {
  return (
    <div className="flex flex-col gap-4" data-testid="usage-loading">
      <p role="status" className="sr-only">
        {label}
      </p>
      <Skeleton className="h-24 w-full rounded-xl" />
      <Skeleton className="h-80 w-full rounded-xl" />
      <div className="grid gap-4 lg:grid-cols-2">
        <Skeleton className="h-80 w-full rounded-xl" />
        <Skeleton className="h-80 w-full rounded-xl" />
      </div>
    </div>
  );
}

/** Day and number formatting in the reader's locale; days are already the reader's, so shown in UTC. */
function useUsageFormat() {
  const format = useFormatter();
  return {
    short: (date: string) =>
      format.dateTime(calendarDay(date), { month: "short", day: "numeric", timeZone: "UTC" }),
    long: (date: string) => format.dateTime(calendarDay(date), { dateStyle: "medium", timeZone: "UTC" }),
    number: (value: number) => format.number(value),
    /** "Dec 8 – 14" / "12月8日至14日": a week as the locale writes a range of days. */
    week: (start: string, end: string) =>
      format.dateTimeRange(calendarDay(start), calendarDay(end), {
        month: "short",
        day: "numeric",
        timeZone: "UTC",
      }),
    longWeek: (start: string, end: string) =>
      format.dateTimeRange(calendarDay(start), calendarDay(end), { dateStyle: "medium", timeZone: "UTC" }),
  };
}

function UsageCard({
  title,
  icon,
  description,
  children,
  testId,
}: {
  title: string;
  icon: ReactNode;
  description?: ReactNode;
  children: ReactNode;
  testId: string;
}) {
  return (
    <Card className="gap-4" data-testid={testId}>
      <CardHeader>
        <h3 className="flex items-center gap-2 font-semibold text-base leading-none">
          {icon}
          {title}
        </h3>
        {description ? <CardDescription>{description}</CardDescription> : null}
      </CardHeader>
      <CardContent>{children}</CardContent>
    </Card>
  );
}

function EmptyChart({ text }: { text: string }) {
  return (
    <div className="flex h-40 items-center justify-center rounded-lg border border-dashed px-4 text-center text-muted-foreground text-sm">
      {text}
    </div>
  );
}

function ForecastCard({ data }: { data: CreditUsage }) {
  const t = useTranslations("credits");
  const f = useUsageFormat();
  const { forecast } = data;
  const days = forecast.windowDays;
  let headline: string;
  if (forecast.available === 0) headline = t("usageForecastEmpty");
  else if (forecast.spentInWindow === 0) headline = t("usageForecastNoSpend", { days });
  else if (forecast.beyondHorizon || !forecast.runsOutOn) headline = t("usageForecastBeyond", { days });
  else headline = t("usageForecastUntil", { days, date: f.long(forecast.runsOutOn) });
  const details: string[] = [];
  if (forecast.spentInWindow > 0)
    details.push(
      t("usageForecastPace", { spent: forecast.spentInWindow, days, available: forecast.available }),
    );
  else if (forecast.available > 0)
    details.push(t("usageForecastNoSpendDetail", { count: forecast.available }));
  if (forecast.expiresUnused > 0)
    details.push(t("usageForecastExpiresUnused", { count: forecast.expiresUnused }));

  return (
    <Card className="gap-2 px-6 py-5" data-testid="usage-forecast">
      <h3 className="flex items-center gap-2 font-medium text-muted-foreground text-sm">
        <Hourglass className="size-4" aria-hidden />
        {t("usageForecastTitle")}
      </h3>
      <p className="font-semibold text-lg leading-snug" data-testid="usage-forecast-headline">
        {headline}
      </p>
      {details.map((detail) => (
        <p key={detail} className="text-muted-foreground text-sm">
          {detail}
        </p>
      ))}
    </Card>
  );
}

function SpendCard({ data }: { data: CreditUsage }) {
  const t = useTranslations("credits");
  const tAll = useTranslations();
  const f = useUsageFormat();
  const featureName = (feature: string | null) => {
    if (feature === null) return t("usageOtherFeatures");
    const key = FEATURE_MESSAGE_KEYS[feature as FeatureId];
    return key ? tAll(`features.${key}`) : feature;
  };
  const series = data.features.map((item, index) => ({
    key: `s${index}` as const,
    name: featureName(item.feature),
    color: item.feature === null ? OTHER_COLOR : (SERIES_COLORS[index] ?? OTHER_COLOR),
    spent: item.spent,
  }));
  const rows: SpendRow[] = data.days.map((day) => {
    const row: SpendRow = { label: f.short(day.date) };
    day.spentByFeature.forEach((credits, index) => {
      row[`s${index}`] = credits;
    });
    return row;
  });
  const range = { from: f.long(data.from), to: f.long(data.to) };
  const total = data.totals.spent;
  const spendDays = data.days.filter((day) => day.spent > 0);

  return (
    <UsageCard
      title={t("usageSpentTitle")}
      icon={<ChartColumn className="size-4 text-muted-foreground" aria-hidden />}
      description={total > 0 ? t("usageSpentTotal", { count: total, ...range }) : null}
      testId="usage-spent"
    >
      {total === 0 ? (
        <EmptyChart text={t("usageSpentEmpty", { days: data.rangeDays })} />
      ) : (
        <div className="flex flex-col gap-3">
          <ChartFrame
            label={t("usageSpentChartLabel", { count: total, ...range })}
            testId="usage-spent-chart"
            table={
              <table className="sr-only">
                <caption>{t("usageSpentTableCaption")}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t("usageTableDate")}</th>
                    {series.map((item) => (
                      <th key={item.key} scope="col">
                        {item.name}
                      </th>
                    ))}
                    <th scope="col">{t("usageTableTotal")}</th>
                  </tr>
                </thead>
                <tbody>
                  {spendDays.map((day) => (
                    <tr key={day.date}>
                      <th scope="row">{f.long(day.date)}</th>
                      {day.spentByFeature.map((credits, index) => (
                        <td key={series[index]?.key ?? index}>{f.number(credits)}</td>
                      ))}
                      <td>{f.number(day.spent)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            }
          >
            <SpendChart rows={rows} series={series} />
          </ChartFrame>
          <ul aria-label={t("usageFeatures")} className="flex flex-wrap gap-x-4 gap-y-1.5 text-sm">
            {series.map((item) => (
              <li key={item.key} className="flex items-center gap-1.5">
                <span aria-hidden className="size-2.5 rounded-sm" style={{ background: item.color }} />
                <span>{item.name}</span>
                <span className="text-muted-foreground tabular-nums">{f.number(item.spent)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </UsageCard>
  );
}

function BalanceCard({ data }: { data: CreditUsage }) {
  const t = useTranslations("credits");
  const f = useUsageFormat();
  const rows = data.days.map((day) => ({ label: f.short(day.date), balance: day.balance }));
  const first = data.days[0];
  const last = data.days.at(-1);
  const empty = data.days.every((day) => day.balance === 0 && day.granted === 0 && day.expired === 0);
  const start = first?.balance ?? 0;
  const end = last?.balance ?? 0;
  // The table lists the days something changed, and the range's first and last days.
  const changed = data.days.filter(
    (day, index) =>
      index === 0 ||
      index === data.days.length - 1 ||
      day.granted > 0 ||
      day.expired > 0 ||
      day.spent > 0 ||
      day.balance !== data.days[index - 1]?.balance,
  );

  return (
    <UsageCard
      title={t("usageBalanceTitle")}
      icon={<TrendingUp className="size-4 text-muted-foreground" aria-hidden />}
      description={
        empty ? null : t("usageBalanceSummary", { start, end, from: f.long(data.from), to: f.long(data.to) })
      }
      testId="usage-balance"
    >
      {empty ? (
        <EmptyChart text={t("usageBalanceEmpty")} />
      ) : (
        <ChartFrame
          label={t("usageBalanceChartLabel", {
            from: f.long(data.from),
            to: f.long(data.to),
            start: f.number(start),
            end: f.number(end),
          })}
          testId="usage-balance-chart"
          table={
            <table className="sr-only">
              <caption>{t("usageBalanceTableCaption")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("usageTableDate")}</th>
                  <th scope="col">{t("usageTableBalance")}</th>
                  <th scope="col">{t("usageTableAdded")}</th>
                  <th scope="col">{t("usageTableSpent")}</th>
                  <th scope="col">{t("usageTableExpired")}</th>
                </tr>
              </thead>
              <tbody>
                {changed.map((day) => (
                  <tr key={day.date}>
                    <th scope="row">{f.long(day.date)}</th>
                    <td>{f.number(day.balance)}</td>
                    <td>{f.number(day.granted)}</td>
                    <td>{f.number(day.spent)}</td>
                    <td>{f.number(day.expired)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        >
          <BalanceChart rows={rows} name={t("usageTableBalance")} />
        </ChartFrame>
      )}
    </UsageCard>
  );
}

function ExpiringCard({ data }: { data: CreditUsage }) {
  const t = useTranslations("credits");
  const f = useUsageFormat();
  const total = data.expiring.reduce((sum, week) => sum + week.credits, 0);
  const rows = data.expiring.map((week) => ({
    label: f.week(week.start, week.end),
    credits: week.credits,
  }));

  return (
    <UsageCard
      title={t("usageExpiringTitle")}
      icon={<CalendarClock className="size-4 text-muted-foreground" aria-hidden />}
      description={total > 0 ? t("usageExpiringSummary", { count: total }) : null}
      testId="usage-expiring"
    >
      {total === 0 ? (
        <EmptyChart text={t("usageExpiringEmpty")} />
      ) : (
        <ChartFrame
          label={t("usageExpiringChartLabel", { count: total })}
          testId="usage-expiring-chart"
          table={
            <table className="sr-only">
              <caption>{t("usageExpiringTableCaption")}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("usageTableWeek")}</th>
                  <th scope="col">{t("usageTableCredits")}</th>
                </tr>
              </thead>
              <tbody>
                {data.expiring.map((week) => (
                  <tr key={week.start}>
                    <th scope="row">{f.longWeek(week.start, week.end)}</th>
                    <td>{f.number(week.credits)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        >
          <ExpiringChart rows={rows} name={t("usageTableCredits")} />
        </ChartFrame>
      )}
    </UsageCard>
  );
}

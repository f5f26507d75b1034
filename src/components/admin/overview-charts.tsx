"use client";

import { useFormatter, useTranslations } from "next-intl";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Legend,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { OverviewDay } from "@/admin/get-ledger-overview";

/** The daily series, each with its colour (globals.css: --chart-1…5, set for light and dark). */
const SERIES = [
  { key: "sold", label: "overviewSold", color: "var(--chart-1)" },
  { key: "granted", label: "overviewGranted", color: "var(--chart-2)" },
  { key: "consumed", label: "overviewConsumed", color: "var(--chart-3)" },
  { key: "expired", label: "overviewExpired", color: "var(--chart-4)" },
  { key: "clawedBack", label: "overviewClawedBack", color: "var(--chart-5)" },
] as const;

const axisTick = { fill: "var(--muted-foreground)", fontSize: 12 };
const tooltipStyle = {
  background: "var(--popover)",
  color: "var(--popover-foreground)",
  border: "1px solid var(--border)",
  borderRadius: 8,
};

/**
 * Credits per UTC day as grouped bars. The figure is named for screen readers by `aria-label`; the chart's
 * own drawing is hidden from them and the same numbers follow as a table (visible on phones, where bars for
 * 90 days would be too thin to read, and to assistive technology everywhere).
 */
export function DailyFlowsChart({ daily, from, to }: { daily: OverviewDay[]; from: string; to: string }) {
  const t = useTranslations("admin");
  const format = useFormatter();
  const day = (value: string) =>
    format.dateTime(new Date(`${value}T00:00:00Z`), { month: "short", day: "numeric", timeZone: "UTC" });
  const moved = daily.some((d) => SERIES.some((s) => d[s.key] !== 0));

  return (
    <figure
      aria-label={t("overviewDailyChart", { from, to })}
      className="space-y-3"
      data-testid="overview-daily"
    >
      {moved ? (
        <div aria-hidden className="hidden h-72 w-full sm:block">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart
              data={daily}
              margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
              accessibilityLayer={false}
            >
              <CartesianGrid stroke="var(--border)" vertical={false} />
              <XAxis
                dataKey="day"
                tickFormatter={day}
                tick={axisTick}
                stroke="var(--border)"
                minTickGap={16}
              />
              <YAxis
                tick={axisTick}
                stroke="var(--border)"
                width={56}
                tickFormatter={(v: number) => format.number(v, { notation: "compact" })}
              />
              <Tooltip
                contentStyle={tooltipStyle}
                labelFormatter={(label) => day(String(label))}
                formatter={(value, name) => [format.number(Number(value)), name]}
                cursor={{ fill: "var(--muted)" }}
              />
              <Legend wrapperStyle={{ fontSize: 12, color: "var(--foreground)" }} />
              {SERIES.map((s) => (
                <Bar key={s.key} dataKey={s.key} name={t(s.label)} fill={s.color} radius={[3, 3, 0, 0]} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      ) : (
        <p className="rounded-lg border border-dashed px-4 py-8 text-center text-muted-foreground text-sm">
          {t("overviewEmpty")}
        </p>
      )}
      <figcaption className="sr-only">{t("overviewDailyChart", { from, to })}</figcaption>
      {/* A scrolling region takes the keyboard focus so it can be scrolled without a mouse (axe: scrollable-region-focusable). */}
      <section
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1).
        tabIndex={0}
        aria-label={t("overviewDailyTable")}
        className="max-h-80 overflow-auto rounded-lg border focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring sm:max-h-56"
      >
        <table className="w-full text-sm tabular-nums">
          <caption className="sr-only">{t("overviewDailyTable")}</caption>
          <thead className="sticky top-0 bg-card">
            <tr className="border-b text-left text-muted-foreground text-xs">
              <th scope="col" className="px-3 py-2 font-medium">
                {t("overviewDay")}
              </th>
              {SERIES.map((s) => (
                <th key={s.key} scope="col" className="px-3 py-2 text-right font-medium">
                  {t(s.label)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {[...daily].reverse().map((d) => (
              <tr key={d.day} className="border-b last:border-0">
                <th scope="row" className="whitespace-nowrap px-3 py-1.5 text-left font-normal">
                  <time dateTime={d.day}>{day(d.day)}</time>
                </th>
                {SERIES.map((s) => (
                  <td key={s.key} className="px-3 py-1.5 text-right">
                    {format.number(d[s.key])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </figure>
  );
}

/** The liability as a ring: paid, promotional and held credits. Named in words for screen readers. */
export function OutstandingChart({
  paid,
  promotional,
  held,
}: {
  paid: number;
  promotional: number;
  held: number;
}) {
  const t = useTranslations("admin");
  const format = useFormatter();
  const parts = [
    { name: t("overviewPaid"), value: paid, color: "var(--chart-1)" },
    { name: t("overviewPromotional"), value: promotional, color: "var(--chart-2)" },
    { name: t("overviewHeld"), value: held, color: "var(--chart-3)" },
  ];
  const label = t("overviewOutstandingChart", {
    paid: format.number(paid),
    promotional: format.number(promotional),
    held: format.number(held),
  });
  if (paid + promotional + held === 0) return null;
  return (
    <figure
      role="img"
      aria-label={label}
      className="mx-auto size-40 shrink-0"
      data-testid="overview-outstanding-chart"
    >
      <ResponsiveContainer width="100%" height="100%">
        <PieChart accessibilityLayer={false}>
          <Pie
            data={parts}
            dataKey="value"
            nameKey="name"
            innerRadius="60%"
            outerRadius="100%"
            stroke="var(--card)"
            isAnimationActive={false}
          >
            {parts.map((part) => (
              <Cell key={part.name} fill={part.color} />
            ))}
          </Pie>
          <Tooltip
            contentStyle={tooltipStyle}
            formatter={(value, name) => [format.number(Number(value)), name]}
          />
        </PieChart>
      </ResponsiveContainer>
    </figure>
  );
}

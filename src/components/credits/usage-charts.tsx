"use client";

import { useFormatter } from "next-intl";
import type { ReactNode } from "react";
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

/** Series colours, from the theme (src/app/globals.css): the same hue per position in light and dark. */
export const SERIES_COLORS = [
  "var(--chart-1)",
  "var(--chart-2)",
  "var(--chart-3)",
  "var(--chart-4)",
  "var(--chart-5)",
  "var(--chart-6)",
];
/** The "other" series is always grey, wherever it falls. */
export const OTHER_COLOR = "var(--chart-6)";

const CHART_HEIGHT = 224;
const axisTick = { fill: "var(--muted-foreground)", fontSize: 12 };

/**
 * A chart's frame: the picture is one image for assistive technology (role="img" with `label`, which
 * sums the chart up), its values follow in a visually hidden table (`table`). Recharts' own keyboard
 * layer is off: the chart has nothing focusable, so the image role hides nothing a keyboard could reach.
 */
export function ChartFrame({
  label,
  table,
  children,
  testId,
}: {
  label: string;
  table: ReactNode;
  children: ReactNode;
  testId?: string;
}) {
  return (
    <div className="flex flex-col gap-2">
      <div
        role="img"
        aria-label={label}
        data-testid={testId}
        className="w-full"
        style={{ height: CHART_HEIGHT }}
      >
        {children}
      </div>
      {table}
    </div>
  );
}

type TooltipRow = { name: string; value: number; color: string };

/** The hover card: the day and each non-zero value, numbers in the reader's locale. */
function ChartTooltip({
  active,
  label,
  rows,
}: {
  active: boolean | undefined;
  label: string | undefined;
  rows: TooltipRow[];
}) {
  const format = useFormatter();
  if (!active || rows.length === 0) return null;
  return (
    <div className="min-w-36 rounded-md border bg-popover px-3 py-2 text-popover-foreground text-xs shadow-md">
      <div className="mb-1 font-medium">{label}</div>
      <ul className="flex flex-col gap-0.5">
        {rows.map((row) => (
          <li key={row.name} className="flex items-center justify-between gap-3">
            <span className="flex items-center gap-1.5">
              <span aria-hidden className="size-2 rounded-sm" style={{ background: row.color }} />
              {row.name}
            </span>
            <span className="font-medium tabular-nums">{format.number(row.value)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

type PayloadItem = { value?: unknown; name?: unknown; color?: string | undefined; fill?: string | undefined };

function tooltipRows(payload: readonly PayloadItem[] | undefined): TooltipRow[] {
  return (payload ?? [])
    .filter((item) => typeof item.value === "number" && item.value !== 0)
    .map((item) => ({
      name: String(item.name ?? ""),
      value: item.value as number,
      color: String(item.color ?? item.fill ?? "currentColor"),
    }))
    .reverse();
}

export type SpendRow = { label: string } & Record<`s${number}`, number>;

/** Credits spent per day, one stacked bar per day, one colour per feature series. */
export function SpendChart({
  rows,
  series,
}: {
  rows: SpendRow[];
  series: { key: `s${number}`; name: string; color: string }[];
}) {
  const format = useFormatter();
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart data={rows} accessibilityLayer={false} margin={{ top: 4, right: 4, bottom: 0, left: 0 }}>
        <CartesianGrid vertical={false} stroke="var(--border)" />
        <XAxis dataKey="label" tick={axisTick} tickLine={false} axisLine={false} minTickGap={16} />
        <YAxis
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          allowDecimals={false}
          width="auto"
          tickFormatter={(value: number) => format.number(value, { notation: "compact" })}
        />
        <Tooltip
          cursor={{ fill: "var(--muted)" }}
          content={(props) => (
            <ChartTooltip
              active={props.active}
              label={String(props.label ?? "")}
              rows={tooltipRows(props.payload)}
            />
          )}
        />
        {series.map((item, index) => (
          <Bar
            key={item.key}
            dataKey={item.key}
            name={item.name}
            stackId="spent"
            fill={item.color}
            isAnimationActive={false}
            radius={index === series.length - 1 ? [3, 3, 0, 0] : 0}
          />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}

/** The balance at the end of each day, as a stepped area (a balance changes at entries, not in between). */
export function BalanceChart({ rows, name }: { rows: { label: string; balance: number }[]; name: string }) {
  const format = useFormatter();
  return (
    <ResponsiveContainer width="100%" height="100%">
      <AreaChart data={rows} accessibilityLayer={false} margin={{ top: 4, right: 4, bottom: 0, left: 0 }}>
        <defs>
          <linearGradient id="usage-balance-fill" x1="0" y1="0" x2="0" y2="1">
            <stop offset="0%" stopColor="var(--chart-1)" stopOpacity={0.35} />
            <stop offset="100%" stopColor="var(--chart-1)" stopOpacity={0.02} />
          </linearGradient>
        </defs>
        <CartesianGrid vertical={false} stroke="var(--border)" />
        <XAxis dataKey="label" tick={axisTick} tickLine={false} axisLine={false} minTickGap={16} />
        <YAxis
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          allowDecimals={false}
          width="auto"
          tickFormatter={(value: number) => format.number(value, { notation: "compact" })}
        />
        <Tooltip
          cursor={{ stroke: "var(--border)" }}
          content={(props) => (
            <SingleSeriesTooltip
              active={props.active}
              label={props.label}
              payload={props.payload}
              name={name}
              color="var(--chart-1)"
            />
          )}
        />
        <Area
          dataKey="balance"
          name={name}
          type="stepAfter"
          stroke="var(--chart-1)"
          strokeWidth={2}
          fill="url(#usage-balance-fill)"
          isAnimationActive={false}
        />
      </AreaChart>
    </ResponsiveContainer>
  );
}

/** Credits that expire per coming week: horizontal bars, so each week's dates have room on a phone. */
export function ExpiringChart({ rows, name }: { rows: { label: string; credits: number }[]; name: string }) {
  const format = useFormatter();
  return (
    <ResponsiveContainer width="100%" height="100%">
      <BarChart
        data={rows}
        layout="vertical"
        accessibilityLayer={false}
        margin={{ top: 4, right: 12, bottom: 0, left: 0 }}
      >
        <CartesianGrid horizontal={false} stroke="var(--border)" />
        <XAxis
          type="number"
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          allowDecimals={false}
          tickFormatter={(value: number) => format.number(value, { notation: "compact" })}
        />
        <YAxis
          type="category"
          dataKey="label"
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          width="auto"
        />
        <Tooltip
          cursor={{ fill: "var(--muted)" }}
          content={(props) => (
            <SingleSeriesTooltip
              active={props.active}
              label={props.label}
              payload={props.payload}
              name={name}
              color="var(--chart-3)"
            />
          )}
        />
        <Bar
          dataKey="credits"
          name={name}
          fill="var(--chart-3)"
          radius={[0, 3, 3, 0]}
          maxBarSize={36}
          isAnimationActive={false}
        />
      </BarChart>
    </ResponsiveContainer>
  );
}

/** The tooltip of a chart with one series: its name, colour and the hovered value. */
function SingleSeriesTooltip({
  active,
  label,
  payload,
  name,
  color,
}: {
  active?: boolean;
  label?: unknown;
  payload?: readonly { value?: unknown }[];
  name: string;
  color: string;
}) {
  return (
    <ChartTooltip
      active={active}
      label={String(label ?? "")}
      rows={(payload ?? []).map((item) => ({ name, value: Number(item.value ?? 0), color }))}
    />
  );
}

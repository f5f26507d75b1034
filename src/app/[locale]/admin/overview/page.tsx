import { getFormatter, getLocale, getTranslations, setRequestLocale } from "next-intl/server";
import { getLedgerOverview, type LedgerOverview, OVERVIEW_RANGES } from "@/admin/get-ledger-overview";
import { requireAdmin } from "@/auth/require-admin";
import { formatMoney } from "@/catalog/format-money";
import { DailyFlowsChart, OutstandingChart } from "@/components/admin/overview-charts";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { InvalidInputError } from "@/credits/errors";
import { getDb } from "@/db/client";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";

type PageProps = {
  params: Promise<{ locale: string }>;
  searchParams: Promise<{ days?: string; from?: string; to?: string }>;
};

const one = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);

/**
 * Admin → Overview: the ledger's movements over a period (7, 30 or 90 days, or from/to dates), the revenue
 * behind them and the liability now. Read from the daily aggregates (src/admin/get-ledger-overview.ts), so
 * it costs the same on any ledger size. A range the use case refuses shows a message and the last 30 days.
 */
export default async function AdminOverviewPage({ params, searchParams }: PageProps) {
  const { locale } = await params;
  setRequestLocale(locale);
  await requireAdmin();
  const query = await searchParams;
  const from = one(query.from);
  const to = one(query.to);
  const days = one(query.days);
  const input = from || to ? { from, to } : { days: days ?? "30" };
  const db = await getDb();
  let overview: LedgerOverview;
  let refused = false;
  try {
    overview = await getLedgerOverview(db, input);
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    refused = true;
    overview = await getLedgerOverview(db, { days: 30 });
  }
  const [t, format, currentLocale] = await Promise.all([
    getTranslations("admin"),
    getFormatter(),
    getLocale(),
  ]);
  const n = (value: number) => format.number(value);
  const { totals, outstanding } = overview;
  const granted = totals.granted.gift + totals.granted.grant + totals.granted.plan + totals.granted.other;
  const range = refused || from || to ? null : Number(days ?? "30");
  const stats = [
    { key: "sold", label: t("overviewSold"), value: totals.sold, hint: t("overviewSoldHint") },
    {
      key: "granted",
      label: t("overviewGranted"),
      value: granted,
      hint: t("overviewGrantedHint", {
        gift: n(totals.granted.gift),
        grant: n(totals.granted.grant),
        plan: n(totals.granted.plan),
        other: n(totals.granted.other),
      }),
    },
    {
      key: "consumed",
      label: t("overviewConsumed"),
      value: totals.consumed,
      hint: t("overviewConsumedHint"),
    },
    { key: "expired", label: t("overviewExpired"), value: totals.expired, hint: t("overviewExpiredHint") },
    {
      key: "clawed-back",
      label: t("overviewClawedBack"),
      value: totals.clawedBack,
      hint: `${t("overviewClawedBackHint")}. ${t("overviewReinstated", { credits: n(totals.reinstated) })}. ${t("overviewDebtRepaid", { credits: n(totals.debtRepaid) })}`,
    },
    {
      key: "subscriptions",
      label: t("overviewSubscriptions"),
      value: overview.subscriptions.active,
      hint: t("overviewSubscriptionsHint", { pastDue: n(overview.subscriptions.byStatus.past_due ?? 0) }),
    },
  ];

  return (
    <div className="space-y-4">
      <Card className="gap-4">
        <CardHeader>
          <CardTitle className="text-xl tracking-tight">
            <h2>{t("overviewTitle")}</h2>
          </CardTitle>
          <CardDescription>{t("overviewSubtitle")}</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col gap-3 lg:flex-row lg:items-end lg:justify-between">
          <nav aria-label={t("overviewRange")} className="flex flex-wrap gap-1.5">
            {OVERVIEW_RANGES.map((candidate) => (
              <Link
                key={candidate}
                href={{ pathname: "/admin/overview", query: { days: String(candidate) } }}
                aria-current={range === candidate ? "page" : undefined}
                data-testid={`overview-range-${candidate}`}
                className={cn(
                  "whitespace-nowrap rounded-full border px-3 py-1 font-medium text-sm transition-colors hover:bg-accent",
                  range === candidate
                    ? "border-primary/40 bg-primary/10 text-foreground"
                    : "text-muted-foreground",
                )}
              >
                {t("overviewRangeDays", { days: candidate })}
              </Link>
            ))}
          </nav>
          <form method="get" className="flex flex-wrap items-end gap-2">
            <div className="grid gap-1">
              <Label htmlFor="overview-from">{t("overviewFrom")}</Label>
              <Input
                id="overview-from"
                name="from"
                type="date"
                defaultValue={overview.from}
                className="w-40"
              />
            </div>
            <div className="grid gap-1">
              <Label htmlFor="overview-to">{t("overviewTo")}</Label>
              <Input id="overview-to" name="to" type="date" defaultValue={overview.to} className="w-40" />
            </div>
            <Button type="submit" variant="outline">
              {t("overviewApply")}
            </Button>
          </form>
        </CardContent>
        <CardContent>
          {refused ? (
            <p role="alert" className="mb-3 text-destructive text-sm">
              {t("overviewBadRange")}
            </p>
          ) : null}
          <p className="mb-3 text-muted-foreground text-sm" data-testid="overview-period">
            {t("overviewPeriod", { from: overview.from, to: overview.to })}
          </p>
          <dl className="grid grid-cols-2 gap-3 lg:grid-cols-3">
            {stats.map((stat) => (
              <div key={stat.key} className="rounded-xl border bg-card px-4 py-3.5 shadow-xs">
                <dt className="font-medium text-muted-foreground text-xs">{stat.label}</dt>
                <dd
                  data-testid={`overview-${stat.key}`}
                  className="mt-1 font-semibold text-2xl tabular-nums tracking-tight"
                >
                  {n(stat.value)}
                </dd>
                <dd className="mt-0.5 text-muted-foreground text-xs">{stat.hint}</dd>
              </div>
            ))}
          </dl>
        </CardContent>
      </Card>

      <Card className="gap-4">
        <CardHeader>
          <CardTitle>
            <h3>{t("overviewOutstandingTitle")}</h3>
          </CardTitle>
          <CardDescription>{t("overviewOutstandingHint")}</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col items-center gap-4 sm:flex-row">
          <OutstandingChart
            paid={outstanding.paid}
            promotional={outstanding.promotional}
            held={outstanding.held}
          />
          <dl className="grid w-full grid-cols-2 gap-3 sm:grid-cols-4">
            {[
              { key: "paid", label: t("overviewPaid"), value: outstanding.paid, swatch: "var(--chart-1)" },
              {
                key: "promotional",
                label: t("overviewPromotional"),
                value: outstanding.promotional,
                swatch: "var(--chart-2)",
              },
              { key: "held", label: t("overviewHeld"), value: outstanding.held, swatch: "var(--chart-3)" },
              { key: "total", label: t("overviewTotal"), value: outstanding.total, swatch: null },
            ].map((item) => (
              <div key={item.key} className="rounded-xl border px-4 py-3">
                <dt className="flex items-center gap-1.5 font-medium text-muted-foreground text-xs">
                  {item.swatch ? (
                    <span aria-hidden className="size-2.5 rounded-sm" style={{ background: item.swatch }} />
                  ) : null}
                  {item.label}
                </dt>
                <dd
                  data-testid={`overview-outstanding-${item.key}`}
                  className="mt-1 font-semibold text-xl tabular-nums"
                >
                  {n(item.value)}
                </dd>
              </div>
            ))}
          </dl>
        </CardContent>
        {outstanding.debt > 0 ? (
          <CardContent className="text-destructive text-sm" data-testid="overview-debt">
            {t("overviewDebt", { credits: n(outstanding.debt) })}
          </CardContent>
        ) : null}
      </Card>

      <Card className="gap-4">
        <CardHeader>
          <CardTitle>
            <h3>{t("overviewDailyTitle")}</h3>
          </CardTitle>
        </CardHeader>
        <CardContent>
          <DailyFlowsChart daily={overview.daily} from={overview.from} to={overview.to} />
        </CardContent>
      </Card>

      <Card className="gap-4">
        <CardHeader>
          <CardTitle>
            <h3>{t("overviewRevenueTitle")}</h3>
          </CardTitle>
          <CardDescription>{t("overviewRevenueHint")}</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-4 lg:grid-cols-2">
          {(
            [
              ["package", t("overviewByPackage"), overview.revenue.byPackage],
              ["plan", t("overviewByPlan"), overview.revenue.byPlan],
            ] as const
          ).map(([key, title, rows]) => (
            <section key={key} aria-label={title} className="min-w-0">
              <h4 className="mb-2 font-medium text-sm">{title}</h4>
              {rows.length === 0 ? (
                <p className="text-muted-foreground text-sm">{t("overviewNoRevenue")}</p>
              ) : (
                <div className="overflow-x-auto rounded-lg border">
                  <table className="w-full text-sm tabular-nums" data-testid={`overview-revenue-${key}`}>
                    <thead>
                      <tr className="border-b text-left text-muted-foreground text-xs">
                        <th scope="col" className="px-3 py-2 font-medium">
                          {t("overviewItem")}
                        </th>
                        <th scope="col" className="px-3 py-2 text-right font-medium">
                          {t("overviewPurchases")}
                        </th>
                        <th scope="col" className="px-3 py-2 text-right font-medium">
                          {t("overviewGross")}
                        </th>
                        <th scope="col" className="px-3 py-2 text-right font-medium">
                          {t("overviewRefunded")}
                        </th>
                        <th scope="col" className="px-3 py-2 text-right font-medium">
                          {t("overviewNet")}
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {rows.map((row) => (
                        <tr key={`${row.id}/${row.currency}`} className="border-b last:border-0">
                          <th scope="row" className="px-3 py-1.5 text-left font-normal">
                            {row.id} <span className="text-muted-foreground uppercase">{row.currency}</span>
                          </th>
                          <td className="px-3 py-1.5 text-right">{n(row.purchases)}</td>
                          <td className="px-3 py-1.5 text-right">
                            {formatMoney({ amount: row.amount, currency: row.currency }, currentLocale)}
                          </td>
                          <td className="px-3 py-1.5 text-right">
                            {formatMoney({ amount: row.refunded, currency: row.currency }, currentLocale)}
                          </td>
                          <td className="px-3 py-1.5 text-right font-medium">
                            {formatMoney({ amount: row.net, currency: row.currency }, currentLocale)}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </section>
          ))}
        </CardContent>
      </Card>
    </div>
  );
}

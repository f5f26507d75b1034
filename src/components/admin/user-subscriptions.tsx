import { Repeat } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import { formatMoney } from "@/catalog/format-money";
import { DateTime } from "@/components/format/date-time";
import { usePlanName } from "@/components/pricing/plan-card";
import { Badge, type BadgeProps } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import { PeriodRange } from "./period-range";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";
import { type AdminSubscription, SubscriptionFlags, SubscriptionStatusBadge } from "./subscriptions-table";

/** One period grant of a subscription (src/admin/get-user-subscriptions.ts). */
export type AdminPeriodGrant = {
  invoiceId: string;
  kind: string;
  slotIndex: number | null;
  periodStart: string;
  periodEnd: string;
  credits: number;
  status: string;
  remaining: number | null;
  invoice: { amount: number; currency: string; amountRefunded: number; status: string } | null;
};

/** One carry of unspent credits into a period. */
export type AdminRollover = {
  intoStart: string;
  intoEnd: string;
  cap: number;
  credits: number | null;
  status: string;
};

export type AdminUserSubscription = AdminSubscription & {
  provider: string;
  providerSubscriptionId: string | null;
  grants: AdminPeriodGrant[];
  moreGrants: boolean;
  rollovers: AdminRollover[];
  moreRollovers: boolean;
};

const GRANT_STATUS_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  granted: "success",
  scheduled: "secondary",
  period_over: "outline",
  stopped: "outline",
};

const ROLLOVER_STATUS_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  granted: "success",
  pending: "secondary",
  nothing: "outline",
};

/** Grants and rollovers in one list, newest period first; a period's carry follows its grant. */
type PeriodRow =
  | { type: "grant"; start: string; grant: AdminPeriodGrant }
  | { type: "rollover"; start: string; rollover: AdminRollover };

function periodRows(subscription: AdminUserSubscription): PeriodRow[] {
  const rows: PeriodRow[] = [
    ...subscription.grants.map((grant) => ({ type: "grant" as const, start: grant.periodStart, grant })),
    ...subscription.rollovers.map((rollover) => ({
      type: "rollover" as const,
      start: rollover.intoStart,
      rollover,
    })),
  ];
  // A stable sort keeps the use case's order within a kind; ISO times in UTC compare as text.
  return rows.sort((a, b) =>
    a.start === b.start ? (a.type === b.type ? 0 : a.type === "grant" ? -1 : 1) : a.start < b.start ? 1 : -1,
  );
}

/** The user's subscriptions on their admin page: each with its state and what each period granted. */
export function UserSubscriptions({ subscriptions }: { subscriptions: AdminUserSubscription[] }) {
  const t = useTranslations("admin");
  if (subscriptions.length === 0) {
    return (
      <EmptyState
        icon={Repeat}
        title={t("userSubscriptionsEmpty")}
        text={t("userSubscriptionsEmptyText")}
        testId="admin-user-subscriptions-empty"
      />
    );
  }
  return (
    <div className="flex flex-col divide-y">
      {subscriptions.map((subscription) => (
        <UserSubscription key={subscription.id} subscription={subscription} />
      ))}
    </div>
  );
}

function UserSubscription({ subscription }: { subscription: AdminUserSubscription }) {
  const t = useTranslations("admin");
  const planName = usePlanName();
  const rows = periodRows(subscription);

  return (
    <section
      className="flex flex-col gap-3 py-4 first:pt-0 last:pb-0"
      data-testid="admin-user-subscription"
      data-subscription-id={subscription.id}
      data-status={subscription.status}
      aria-label={planName({ id: subscription.planId })}
    >
      <div className="flex flex-col gap-1.5 px-6">
        <div className="flex flex-wrap items-center gap-2">
          <h3 className="font-medium" data-testid="subscription-plan">
            {planName({ id: subscription.planId })}
          </h3>
          <SubscriptionStatusBadge status={subscription.status} />
          <SubscriptionFlags subscription={subscription} />
        </div>
        <dl className="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-[auto_1fr]">
          <dt className="text-muted-foreground">{t("subscriptionCurrentPeriod")}</dt>
          <dd data-testid="subscription-period">
            <PeriodRange start={subscription.currentPeriodStart} end={subscription.currentPeriodEnd} />
          </dd>
          {subscription.scheduledPlanId ? (
            <>
              <dt className="text-muted-foreground">{t("subscriptionNextPlan")}</dt>
              <dd data-testid="subscription-scheduled-plan">
                {planName({ id: subscription.scheduledPlanId })}
              </dd>
            </>
          ) : null}
          {subscription.endedAt ? (
            <>
              <dt className="text-muted-foreground">{t("subscriptionEnded")}</dt>
              <dd>
                <DateTime value={subscription.endedAt} />
              </dd>
            </>
          ) : null}
          <dt className="text-muted-foreground">{t("colCreated")}</dt>
          <dd>
            <DateTime value={subscription.createdAt} />
          </dd>
          <dt className="text-muted-foreground">{t("subscriptionId")}</dt>
          <dd className="min-w-0 break-all font-mono text-xs leading-5">
            {subscription.id}
            {subscription.providerSubscriptionId ? (
              <span className="text-muted-foreground"> · {subscription.providerSubscriptionId}</span>
            ) : null}
          </dd>
        </dl>
      </div>
      {rows.length === 0 ? (
        <p className="px-6 text-muted-foreground text-sm" data-testid="subscription-periods-empty">
          {t("subscriptionPeriodsEmpty")}
        </p>
      ) : (
        <PeriodsTable rows={rows} />
      )}
      {subscription.moreGrants || subscription.moreRollovers ? (
        <p className="px-6 text-muted-foreground text-xs">{t("subscriptionPeriodsMore")}</p>
      ) : null}
    </section>
  );
}

function PeriodsTable({ rows }: { rows: PeriodRow[] }) {
  const t = useTranslations("admin");
  const format = useFormatter();
  const locale = useLocale();

  return (
    <StackedTable aria-label={t("subscriptionPeriodsTitle")}>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colGrant")}</TableHead>
          <TableHead>{t("colPeriod")}</TableHead>
          <TableHead className="text-right">{t("colCredits")}</TableHead>
          <TableHead>{t("colStatus")}</TableHead>
          <TableHead className="pr-6">{t("colInvoice")}</TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {rows.map((row) => {
          if (row.type === "rollover") {
            const { rollover } = row;
            return (
              <StackedRow
                key={`rollover-${rollover.intoStart}`}
                data-testid="subscription-period-row"
                data-kind="rollover"
                data-status={rollover.status}
              >
                <StackedCell className="pl-6 font-medium">{t("grantKind.rollover")}</StackedCell>
                <StackedCell label={t("colPeriod")} className="whitespace-nowrap">
                  <PeriodRange start={rollover.intoStart} end={rollover.intoEnd} />
                </StackedCell>
                <StackedCell label={t("colCredits")} className="text-right tabular-nums">
                  <div className="flex flex-col gap-0.5 max-md:items-end">
                    <span className="font-medium" data-testid="period-credits">
                      {rollover.credits === null ? "—" : format.number(rollover.credits)}
                    </span>
                    <span className="text-muted-foreground text-xs">
                      {t("rolloverCap", { cap: rollover.cap })}
                    </span>
                  </div>
                </StackedCell>
                <StackedCell label={t("colStatus")}>
                  <Badge variant={ROLLOVER_STATUS_VARIANTS[rollover.status] ?? "outline"}>
                    {t.has(`rolloverStatus.${rollover.status}`)
                      ? t(`rolloverStatus.${rollover.status}`)
                      : rollover.status}
                  </Badge>
                </StackedCell>
                <StackedCell label={t("colInvoice")} className="pr-6 text-muted-foreground">
                  —
                </StackedCell>
              </StackedRow>
            );
          }
          const { grant } = row;
          const money = (amount: number, currency: string) => formatMoney({ amount, currency }, locale);
          return (
            <StackedRow
              key={`${grant.invoiceId}-${grant.kind}-${grant.periodStart}`}
              data-testid="subscription-period-row"
              data-kind={grant.kind}
              data-status={grant.status}
            >
              <StackedCell className="pl-6 font-medium">
                {grant.kind === "slot" && grant.slotIndex !== null
                  ? t("grantKindSlot", { slot: grant.slotIndex + 1 })
                  : t.has(`grantKind.${grant.kind}`)
                    ? t(`grantKind.${grant.kind}`)
                    : grant.kind}
              </StackedCell>
              <StackedCell label={t("colPeriod")} className="whitespace-nowrap">
                <PeriodRange start={grant.periodStart} end={grant.periodEnd} />
              </StackedCell>
              <StackedCell label={t("colCredits")} className="text-right tabular-nums">
                <div className="flex flex-col gap-0.5 max-md:items-end">
                  <span className="font-medium" data-testid="period-credits">
                    {format.number(grant.credits)}
                  </span>
                  {grant.remaining !== null ? (
                    <span className="text-muted-foreground text-xs" data-testid="period-remaining">
                      {t("creditsLeft", { count: grant.remaining })}
                    </span>
                  ) : null}
                </div>
              </StackedCell>
              <StackedCell label={t("colStatus")}>
                <Badge variant={GRANT_STATUS_VARIANTS[grant.status] ?? "outline"} data-testid="period-status">
                  {t.has(`grantStatus.${grant.status}`) ? t(`grantStatus.${grant.status}`) : grant.status}
                </Badge>
              </StackedCell>
              <StackedCell label={t("colInvoice")} className="pr-6">
                <div className="flex min-w-0 flex-col gap-0.5 max-md:items-end">
                  <span
                    className="max-w-48 truncate font-mono text-xs max-md:max-w-56"
                    title={grant.invoiceId}
                    data-testid="period-invoice"
                  >
                    {grant.invoiceId}
                  </span>
                  {grant.invoice ? (
                    <span className="text-muted-foreground text-xs">
                      {money(grant.invoice.amount, grant.invoice.currency)}
                      {grant.invoice.amountRefunded > 0 ? (
                        <span className="text-destructive">
                          {" · "}
                          {t("refunded", {
                            amount: money(grant.invoice.amountRefunded, grant.invoice.currency),
                          })}
                        </span>
                      ) : null}
                    </span>
                  ) : null}
                </div>
              </StackedCell>
            </StackedRow>
          );
        })}
      </StackedBody>
    </StackedTable>
  );
}

import { Repeat } from "lucide-react";
import { useTranslations } from "next-intl";
import { DateTime } from "@/components/format/date-time";
import { usePlanName } from "@/components/pricing/plan-card";
import { Badge, type BadgeProps } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import { Link } from "@/i18n/navigation";
import { PeriodRange } from "./period-range";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

/** What the console shows of a subscription (src/admin/list-subscriptions.ts, subscriptionView). */
export type AdminSubscription = {
  id: string;
  userId: string;
  planId: string;
  status: string;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  endedAt: string | null;
  scheduledPlanId: string | null;
  paymentProblem: string | null;
  flaggedReason: string | null;
  createdAt: string;
  /** Present in the all-users list. */
  email?: string;
};

const STATUS_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  checkout: "secondary",
  abandoned: "outline",
  incomplete: "warning",
  incomplete_expired: "outline",
  trialing: "secondary",
  active: "success",
  past_due: "destructive",
  unpaid: "destructive",
  paused: "warning",
  canceled: "outline",
};

export function SubscriptionStatusBadge({ status }: { status: string }) {
  const t = useTranslations("admin.subscriptionStatus");
  return (
    <Badge variant={STATUS_VARIANTS[status] ?? "outline"} data-testid="subscription-status">
      {t.has(status) ? t(status) : status}
    </Badge>
  );
}

/**
 * The badges beside a subscription's status: leaving at the period's end, a renewal that failed or needs
 * the customer, and a flag raised by an event that could not be trusted.
 */
export function SubscriptionFlags({ subscription }: { subscription: AdminSubscription }) {
  const t = useTranslations("admin");
  const live = subscription.status !== "canceled" && subscription.endedAt === null;
  return (
    <>
      {subscription.cancelAtPeriodEnd && live ? (
        <Badge variant="warning" data-testid="subscription-cancel-at-period-end">
          {t("subscriptionCancelAtPeriodEnd")}
        </Badge>
      ) : null}
      {subscription.paymentProblem ? (
        <Badge variant="destructive" data-testid="subscription-payment-problem">
          {t.has(`subscriptionPaymentProblem.${subscription.paymentProblem}`)
            ? t(`subscriptionPaymentProblem.${subscription.paymentProblem}`)
            : subscription.paymentProblem}
        </Badge>
      ) : null}
      {subscription.flaggedReason ? (
        <Badge variant="warning" title={subscription.flaggedReason}>
          {t("subscriptionFlagged")}
        </Badge>
      ) : null}
    </>
  );
}

/** Subscriptions across users, newest first; each customer links to their page in the console. */
export function SubscriptionsTable({ subscriptions }: { subscriptions: AdminSubscription[] }) {
  const t = useTranslations("admin");
  const planName = usePlanName();

  if (subscriptions.length === 0) {
    return <EmptyState icon={Repeat} title={t("subscriptionsEmpty")} testId="admin-subscriptions-empty" />;
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colPlan")}</TableHead>
          <TableHead>{t("colCustomer")}</TableHead>
          <TableHead>{t("colStatus")}</TableHead>
          <TableHead>{t("colPeriod")}</TableHead>
          <TableHead className="pr-6">{t("colCreated")}</TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {subscriptions.map((subscription) => (
          <StackedRow
            key={subscription.id}
            data-testid="admin-subscription-row"
            data-subscription-id={subscription.id}
            data-status={subscription.status}
          >
            <StackedCell className="pl-6">
              <div className="flex flex-col gap-0.5">
                <span className="font-medium" data-testid="subscription-plan">
                  {planName({ id: subscription.planId })}
                </span>
                {subscription.scheduledPlanId ? (
                  <span className="text-muted-foreground text-xs" data-testid="subscription-scheduled-plan">
                    {t("subscriptionScheduledPlan", { plan: planName({ id: subscription.scheduledPlanId }) })}
                  </span>
                ) : null}
              </div>
            </StackedCell>
            <StackedCell label={t("colCustomer")} className="max-w-56 max-md:max-w-none">
              {subscription.email ? (
                <Link
                  href={`/admin/users/${encodeURIComponent(subscription.userId)}`}
                  className="block truncate underline-offset-4 hover:underline"
                  data-testid="subscription-customer"
                >
                  {subscription.email}
                </Link>
              ) : null}
            </StackedCell>
            <StackedCell label={t("colStatus")}>
              <div className="flex flex-wrap items-center gap-1.5 max-md:justify-end">
                <SubscriptionStatusBadge status={subscription.status} />
                <SubscriptionFlags subscription={subscription} />
              </div>
            </StackedCell>
            <StackedCell label={t("colPeriod")} className="whitespace-nowrap">
              <PeriodRange start={subscription.currentPeriodStart} end={subscription.currentPeriodEnd} />
            </StackedCell>
            <StackedCell label={t("colCreated")} className="whitespace-nowrap pr-6 text-muted-foreground">
              <DateTime value={subscription.createdAt} />
            </StackedCell>
          </StackedRow>
        ))}
      </StackedBody>
    </StackedTable>
  );
}

import { Webhook } from "lucide-react";
import { useTranslations } from "next-intl";
import type { WebhookFailureRow } from "@/admin/list-webhook-failures";
import { DateTime } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import { RetryWebhookButton } from "./retry-webhook-button";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

export function WebhookFailuresTable({ failures }: { failures: WebhookFailureRow[] }) {
  const t = useTranslations("admin");

  if (failures.length === 0) {
    return (
      <EmptyState
        icon={Webhook}
        title={t("webhooksEmpty")}
        text={t("webhooksEmptyText")}
        testId="admin-webhooks-empty"
      />
    );
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colEvent")}</TableHead>
          <TableHead>{t("colReason")}</TableHead>
          <TableHead className="text-right">{t("colAttempts")}</TableHead>
          <TableHead>{t("colLastFailed")}</TableHead>
          <TableHead>{t("colStatus")}</TableHead>
          <TableHead className="pr-6">
            <span className="sr-only">{t("colActions")}</span>
          </TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {failures.map((failure) => (
          <StackedRow key={failure.eventId} data-testid="webhook-failure-row" data-event-id={failure.eventId}>
            <StackedCell className="pl-6">
              <div className="flex flex-col gap-0.5">
                <span className="font-medium font-mono text-sm">{failure.eventType}</span>
                <span
                  className="max-w-56 truncate font-mono text-muted-foreground text-xs"
                  title={failure.eventId}
                >
                  {failure.eventId}
                </span>
              </div>
            </StackedCell>
            <StackedCell label={t("colReason")} className="max-w-80 max-md:max-w-none">
              <div className="flex flex-col gap-0.5">
                <span className="font-mono text-xs">{failure.errorCode}</span>
                <span
                  className="line-clamp-3 break-words text-muted-foreground text-xs"
                  title={failure.reason}
                  data-testid="webhook-failure-reason"
                >
                  {failure.reason}
                </span>
              </div>
            </StackedCell>
            <StackedCell label={t("colAttempts")} className="text-right tabular-nums">
              {failure.attempts}
            </StackedCell>
            <StackedCell label={t("colLastFailed")} className="whitespace-nowrap text-muted-foreground">
              <DateTime value={failure.lastFailedAt} />
            </StackedCell>
            <StackedCell label={t("colStatus")}>
              {failure.resolvedAt ? (
                <div className="flex flex-col gap-0.5 max-md:items-end">
                  <Badge variant="success" data-testid="webhook-failure-status">
                    {t("webhookResolved")}
                  </Badge>
                  <span className="text-muted-foreground text-xs">
                    {t("webhookResolvedBy", {
                      by:
                        failure.resolvedBy === "redelivery"
                          ? t("webhookRedelivery")
                          : (failure.resolvedBy ?? ""),
                    })}
                  </span>
                </div>
              ) : (
                <Badge variant="destructive" data-testid="webhook-failure-status">
                  {t("webhookUnresolved")}
                </Badge>
              )}
            </StackedCell>
            <StackedCell className="pr-6 text-right max-md:pt-2">
              {failure.resolvedAt ? null : (
                <RetryWebhookButton failure={{ eventId: failure.eventId, eventType: failure.eventType }} />
              )}
            </StackedCell>
          </StackedRow>
        ))}
      </StackedBody>
    </StackedTable>
  );
}

import { ScrollText } from "lucide-react";
import { useFormatter, useLocale, useTranslations } from "next-intl";
import { formatMoney } from "@/catalog/format-money";
import { DateTime } from "@/components/format/date-time";
import { TableHead, TableRow } from "@/components/ui/table";
import { Link } from "@/i18n/navigation";
import { cn } from "@/lib/utils";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

export type AdminAuditEntry = {
  id: string;
  actor: string;
  /** Who acted: "admin" (the console), "api_key" or "cli" (src/admin/list-audit-log.ts), where known. */
  actorKind?: string;
  action: string;
  targetUserId?: string | null;
  targetEmail?: string | null;
  details: Record<string, unknown>;
  createdAt: string;
};

/** Message keys of the recorded actions (message keys cannot contain the actions' dots). */
const ACTION_KEYS: Record<string, string> = {
  "credits.grant": "creditsGrant",
  "credits.consume": "creditsConsume",
  "hold.create": "holdCreate",
  "hold.capture": "holdCapture",
  "hold.release": "holdRelease",
  "credits.deduct": "creditsDeduct",
  "purchase.refund_requested": "refundRequested",
  "api_key.create": "apiKeyCreate",
  "api_key.revoke": "apiKeyRevoke",
  "webhook.retry": "webhookRetry",
  "admin.grant": "adminGrant",
  "admin.revoke": "adminRevoke",
  "customer.create": "customerCreate",
  "customer.update": "customerUpdate",
  "webhook_endpoint.create": "webhookEndpointCreate",
  "webhook_endpoint.delete": "webhookEndpointDelete",
  "webhook_endpoint.enable": "webhookEndpointEnable",
  "webhook_endpoint.disable": "webhookEndpointDisable",
  "webhook_delivery.resend": "webhookDeliveryResend",
  "account.low_balance_threshold": "lowBalanceThreshold",
  "credits.bulk_apply": "bulkApply",
  "credits.bulk_row_refused": "bulkRowRefused",
  "credits.bulk_row_failed": "bulkRowFailed",
};

const ID_KEYS = new Set(["purchaseId", "refundId", "apiKeyId", "lotId", "holdId", "eventId"]);

/** Purchase id → currency, so a refund's amount (minor units) can be shown as money. */
export type PurchaseCurrencies = Record<string, string>;

function AuditDetails({
  action,
  details,
  currencies,
}: {
  action: string;
  details: Record<string, unknown>;
  currencies: PurchaseCurrencies;
}) {
  const t = useTranslations("admin.auditDetails");
  const format = useFormatter();
  const locale = useLocale();
  const entries = Object.entries(details).filter(
    ([key, value]) => value !== null && value !== undefined && key !== "currency",
  );
  if (entries.length === 0) return <span className="text-muted-foreground">—</span>;
  // Newer refund entries carry their currency; older ones are looked up by purchase.
  const currency =
    typeof details.currency === "string"
      ? details.currency
      : typeof details.purchaseId === "string"
        ? currencies[details.purchaseId]
        : undefined;

  return (
    <dl className="flex flex-col gap-0.5 text-xs max-md:items-end">
      {entries.map(([key, value]) => {
        // A refund's amount is money in the currency's minor units (cents), not credits.
        const isMoney = key === "amount" && action === "purchase.refund_requested";
        const labelKey = isMoney ? (currency ? "money" : "amountMinor") : key;
        const shown =
          typeof value === "number" && !key.endsWith("Id")
            ? isMoney && currency
              ? formatMoney({ amount: value, currency }, locale)
              : format.number(value)
            : typeof value === "string" || typeof value === "number"
              ? String(value)
              : // A list of names (an API key's scopes) reads as one.
                Array.isArray(value) && value.every((item) => typeof item === "string")
                ? value.join(", ")
                : JSON.stringify(value);
        return (
          <div key={key} className="flex min-w-0 gap-1.5">
            <dt className="shrink-0 text-muted-foreground">{t.has(labelKey) ? t(labelKey) : key}</dt>
            <dd
              className={ID_KEYS.has(key) ? "min-w-0 max-w-36 truncate font-mono" : "min-w-0 break-words"}
              title={ID_KEYS.has(key) ? shown : undefined}
            >
              {shown}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

export function AuditTable({
  entries,
  showTarget,
  currencies = {},
}: {
  entries: AdminAuditEntry[];
  showTarget: boolean;
  currencies?: PurchaseCurrencies;
}) {
  const t = useTranslations("admin");

  if (entries.length === 0) {
    return <EmptyState icon={ScrollText} title={t("auditEmpty")} testId="admin-audit-empty" />;
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colAction")}</TableHead>
          <TableHead>{t("colActor")}</TableHead>
          {showTarget ? <TableHead>{t("colTarget")}</TableHead> : null}
          <TableHead>{t("colDetails")}</TableHead>
          <TableHead className="pr-6">{t("colDate")}</TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {entries.map((entry) => {
          const actionKey = ACTION_KEYS[entry.action];
          return (
            <StackedRow
              key={entry.id}
              data-testid="audit-row"
              data-action={entry.action}
              data-actor-kind={entry.actorKind}
            >
              <StackedCell className="pl-6">
                <span className="font-medium">
                  {actionKey ? t(`auditActions.${actionKey}`) : entry.action}
                </span>
              </StackedCell>
              <StackedCell label={t("colActor")} className="max-w-48 max-md:max-w-none">
                <span className="block truncate" title={entry.actor}>
                  {entry.actor}
                </span>
              </StackedCell>
              {showTarget ? (
                <StackedCell label={t("colTarget")}>
                  {entry.targetUserId ? (
                    <Link
                      href={`/admin/users/${entry.targetUserId}`}
                      className={cn(
                        "text-xs underline-offset-4 hover:underline",
                        !entry.targetEmail && "font-mono",
                      )}
                      title={entry.targetUserId}
                    >
                      {entry.targetEmail ?? entry.targetUserId.slice(0, 8)}
                    </Link>
                  ) : (
                    <span className="text-muted-foreground">—</span>
                  )}
                </StackedCell>
              ) : null}
              <StackedCell label={t("colDetails")} className="max-w-72 max-md:max-w-none">
                <AuditDetails action={entry.action} details={entry.details} currencies={currencies} />
              </StackedCell>
              <StackedCell label={t("colDate")} className="whitespace-nowrap pr-6 text-muted-foreground">
                <DateTime value={entry.createdAt} />
              </StackedCell>
            </StackedRow>
          );
        })}
      </StackedBody>
    </StackedTable>
  );
}

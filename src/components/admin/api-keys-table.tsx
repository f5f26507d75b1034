import { KeyRound } from "lucide-react";
import { useTranslations } from "next-intl";
import { DateTime } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
import { TableHead, TableRow } from "@/components/ui/table";
import type { ApiKeyView } from "@/service-api/api-keys";
import { RevokeApiKeyButton } from "./revoke-api-key-button";
import {
  EmptyState,
  StackedBody,
  StackedCell,
  StackedHeader,
  StackedRow,
  StackedTable,
} from "./stacked-table";

export function ApiKeysTable({ keys }: { keys: ApiKeyView[] }) {
  const t = useTranslations("admin");

  if (keys.length === 0) {
    return (
      <EmptyState
        icon={KeyRound}
        title={t("keysEmptyTitle")}
        text={t("keysEmptyText")}
        testId="api-keys-empty"
      />
    );
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colName")}</TableHead>
          <TableHead>{t("colKey")}</TableHead>
          <TableHead>{t("colScopes")}</TableHead>
          <TableHead>{t("colStatus")}</TableHead>
          <TableHead>{t("colCreated")}</TableHead>
          <TableHead>{t("colLastUsed")}</TableHead>
          <TableHead className="pr-6">
            <span className="sr-only">{t("colActions")}</span>
          </TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {keys.map((key) => (
          <StackedRow key={key.id} data-testid="api-key-row" data-revoked={key.revokedAt ? true : undefined}>
            <StackedCell className="max-w-56 pl-6 max-md:max-w-none">
              <span className="block truncate font-medium" title={key.name}>
                {key.name}
              </span>
            </StackedCell>
            <StackedCell label={t("colKey")}>
              <code className="rounded bg-muted px-1.5 py-0.5 font-mono text-xs">{key.prefix}…</code>
            </StackedCell>
            <StackedCell label={t("colScopes")}>
              <span className="inline-flex flex-wrap gap-1 max-md:justify-end" data-testid="api-key-scopes">
                {key.scopes.map((scope) => (
                  <Badge key={scope} variant="outline" className="font-mono">
                    {scope}
                  </Badge>
                ))}
              </span>
            </StackedCell>
            <StackedCell label={t("colStatus")}>
              {key.revokedAt ? (
                <span className="inline-flex flex-wrap items-center gap-1.5 max-md:justify-end">
                  <Badge variant="destructive">{t("keyRevoked")}</Badge>
                  <DateTime
                    value={key.revokedAt}
                    timeStyle={null}
                    className="text-muted-foreground text-xs"
                  />
                </span>
              ) : (
                <Badge variant="success">{t("keyActive")}</Badge>
              )}
            </StackedCell>
            <StackedCell label={t("colCreated")} className="whitespace-nowrap text-muted-foreground">
              <DateTime value={key.createdAt} />
            </StackedCell>
            <StackedCell label={t("colLastUsed")} className="whitespace-nowrap text-muted-foreground">
              {key.lastUsedAt ? <DateTime value={key.lastUsedAt} /> : t("neverUsed")}
            </StackedCell>
            <StackedCell className="pr-6 text-right max-md:pt-2">
              {key.revokedAt ? null : <RevokeApiKeyButton apiKey={{ id: key.id, name: key.name }} />}
            </StackedCell>
          </StackedRow>
        ))}
      </StackedBody>
    </StackedTable>
  );
}

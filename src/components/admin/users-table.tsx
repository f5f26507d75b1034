import { ChevronRight, Users } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import type { AdminUserRow } from "@/admin/list-users";
import { DateTime } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
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

export function UsersTable({ users, query }: { users: AdminUserRow[]; query: string }) {
  const t = useTranslations("admin");
  const format = useFormatter();

  if (users.length === 0) {
    return (
      <EmptyState
        icon={Users}
        title={t("usersEmptyTitle")}
        text={query ? t("usersEmptyText", { query }) : t("usersEmptyTextAll")}
        testId="admin-users-empty"
      />
    );
  }

  return (
    <StackedTable>
      <StackedHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("colUser")}</TableHead>
          <TableHead className="text-right">{t("colAvailable")}</TableHead>
          <TableHead className="text-right">{t("colHeld")}</TableHead>
          <TableHead className="text-right">{t("colDebt")}</TableHead>
          <TableHead>{t("colJoined")}</TableHead>
          <TableHead className="pr-6">
            <span className="sr-only">{t("view")}</span>
          </TableHead>
        </TableRow>
      </StackedHeader>
      <StackedBody>
        {users.map((user) => (
          <StackedRow
            key={user.id}
            data-testid="admin-user-row"
            data-user-id={user.id}
            data-external-id={user.externalId ?? undefined}
          >
            <StackedCell className="max-w-72 pl-6">
              <div className="flex min-w-0 flex-col gap-0.5">
                <span className="flex min-w-0 items-center gap-2">
                  <Link
                    href={`/admin/users/${user.id}`}
                    className="truncate font-medium underline-offset-4 hover:underline"
                    data-testid="admin-user-link"
                  >
                    {/* A customer is named by its external id: its email is optional. */}
                    {user.externalId ?? user.email}
                  </Link>
                  {user.role === "admin" ? <Badge variant="default">{t("roleAdmin")}</Badge> : null}
                  {user.externalId !== null ? (
                    <Badge variant="secondary" title={t("customerHint")} data-testid="admin-customer-badge">
                      {t("customer")}
                    </Badge>
                  ) : user.emailVerified ? null : (
                    <Badge variant="outline">{t("unverified")}</Badge>
                  )}
                </span>
                <span className="truncate text-muted-foreground text-xs">
                  {user.externalId !== null ? [user.email, user.name].filter(Boolean).join(" · ") : user.name}
                </span>
              </div>
            </StackedCell>
            <StackedCell label={t("colAvailable")} className="text-right font-medium tabular-nums">
              {format.number(user.balance - user.held)}
            </StackedCell>
            <StackedCell
              label={t("colHeld")}
              className={cn("text-right tabular-nums", user.held === 0 && "text-muted-foreground")}
            >
              {format.number(user.held)}
            </StackedCell>
            <StackedCell
              label={t("colDebt")}
              className={cn(
                "text-right tabular-nums",
                user.debt > 0 ? "text-destructive" : "text-muted-foreground",
              )}
            >
              {format.number(user.debt)}
            </StackedCell>
            <StackedCell label={t("colJoined")} className="whitespace-nowrap text-muted-foreground">
              <DateTime value={user.createdAt} timeStyle={null} />
            </StackedCell>
            <StackedCell className="pr-6 text-right max-md:hidden">
              <Link
                href={`/admin/users/${user.id}`}
                aria-label={t("viewUser", { email: user.externalId ?? user.email })}
                className="inline-flex items-center gap-1 text-muted-foreground text-sm hover:text-foreground"
              >
                {t("view")}
                <ChevronRight className="size-4" aria-hidden />
              </Link>
            </StackedCell>
          </StackedRow>
        ))}
      </StackedBody>
    </StackedTable>
  );
}

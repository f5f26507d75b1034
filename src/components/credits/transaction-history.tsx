"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ChevronLeft, ChevronRight, Inbox } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { useEffect, useState } from "react";
import { useTimeZone } from "@/components/format/date-time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { cn } from "@/lib/utils";
import { creditsKeys, fetchTransactions, type Transaction } from "./credits-api";
import { apiQuery, HistoryFilters, rangeIsValid, useHistoryFilter } from "./history-filters";
import { useTransactionText } from "./transaction-text";

const PAGE_SIZE = 10;

/** Whose history a view shows: the signed-in user's (the default) or, for operators, any user's. */
export type HistorySource = { listUrl: string; exportUrl: string };

const OWN_HISTORY: HistorySource = {
  listUrl: "/api/credits/transactions",
  exportUrl: "/api/credits/transactions/export",
};

/**
 * The history with its filters (type, feature, days, search; kept in the URL) and the CSV export of
 * exactly what is filtered. Cursor pagination: `cursors[i]` is the cursor that loads page i (null for the
 * first page), reset when the filter changes. Going back re-reads a known cursor, so Previous never needs
 * a backwards cursor from the API.
 */
export function TransactionHistory({
  source = OWN_HISTORY,
  title,
  subtitle,
  testId,
}: {
  source?: HistorySource;
  title?: string;
  subtitle?: string;
  testId?: string;
}) {
  const t = useTranslations("credits");
  const filter = useHistoryFilter();
  const valid = rangeIsValid(filter.applied);
  const filterQuery = apiQuery(filter.applied).toString();
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState(0);
  const cursor = cursors[page] ?? null;

  // A new filter starts again from its first page: cursors of another filter are positions, not pages.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on a filter change only.
  useEffect(() => {
    setCursors([null]);
    setPage(0);
  }, [filterQuery]);

  const query = useQuery({
    queryKey: creditsKeys.transactions(source.listUrl, filterQuery, cursor),
    queryFn: ({ signal }) => fetchTransactions(cursor, PAGE_SIZE, signal, source.listUrl, filterQuery),
    placeholderData: keepPreviousData,
    enabled: valid,
  });
  const exportHref = valid ? `${source.exportUrl}${filterQuery ? `?${filterQuery}` : ""}` : null;

  const nextCursor = query.data?.nextCursor ?? null;
  const items = query.data?.items ?? [];
  const showPagination = page > 0 || nextCursor !== null;

  function goNext() {
    if (!nextCursor) return;
    setCursors((known) => [...known.slice(0, page + 1), nextCursor]);
    setPage((current) => current + 1);
  }

  function goPrev() {
    setPage((current) => Math.max(0, current - 1));
  }

  return (
    <Card className="gap-4" role="region" aria-labelledby="history-title" data-testid={testId}>
      <CardHeader className="gap-4">
        <div className="flex flex-col gap-1.5">
          <CardTitle id="history-title" className="text-xl tracking-tight">
            {title ?? t("historyTitle")}
          </CardTitle>
          <CardDescription>{subtitle ?? t("historySubtitle")}</CardDescription>
        </div>
        <HistoryFilters filter={filter} exportHref={exportHref} />
      </CardHeader>
      <CardContent className={cn("px-0 transition-opacity", query.isPlaceholderData && "opacity-60")}>
        {!valid ? null : query.isPending ? (
          <HistorySkeleton />
        ) : query.isError ? (
          <div role="alert" className="flex flex-col items-center gap-3 px-6 py-10 text-center">
            <p className="text-destructive text-sm">{t("historyError")}</p>
            <Button variant="outline" size="sm" onClick={() => void query.refetch()}>
              {t("refresh")}
            </Button>
          </div>
        ) : items.length === 0 ? (
          <div
            data-testid="history-empty"
            className="flex flex-col items-center gap-2 px-6 py-12 text-center"
          >
            <span className="flex size-11 items-center justify-center rounded-full bg-muted text-muted-foreground">
              <Inbox className="size-5" aria-hidden />
            </span>
            <p className="mt-1 font-medium">
              {filter.active ? t("historyNoMatchTitle") : t("historyEmptyTitle")}
            </p>
            <p className="text-muted-foreground text-sm">
              {filter.active ? t("historyNoMatchText") : t("historyEmptyText")}
            </p>
          </div>
        ) : (
          <TransactionTable items={items} />
        )}
      </CardContent>
      {showPagination ? (
        <div className="flex items-center justify-between gap-3 border-t px-6 pt-4">
          <span className="text-muted-foreground text-sm" data-testid="history-page">
            {t("historyPage", { page: page + 1 })}
          </span>
          <div className="flex gap-2">
            <Button
              variant="outline"
              size="sm"
              onClick={goPrev}
              disabled={page === 0 || query.isFetching}
              data-testid="history-prev"
            >
              <ChevronLeft aria-hidden />
              {t("historyPrev")}
            </Button>
            <Button
              variant="outline"
              size="sm"
              onClick={goNext}
              disabled={!nextCursor || query.isFetching}
              data-testid="history-next"
            >
              {t("historyNext")}
              <ChevronRight aria-hidden />
            </Button>
          </div>
        </div>
      ) : null}
    </Card>
  );
}

/**
 * One table for every width: below md the rows become stacked cards through CSS (grid rows, hidden header),
 * so there is a single set of rows in the DOM. Column labels on mobile come from `data-label` via ::before.
 * The admin console shows a user's history with the same table.
 */
export function TransactionTable({ items }: { items: Transaction[] }) {
  const t = useTranslations();
  const format = useFormatter();
  const text = useTransactionText();
  const timeZone = useTimeZone();

  return (
    <Table className="max-md:block">
      <TableHeader className="max-md:hidden">
        <TableRow className="hover:bg-transparent">
          <TableHead className="pl-6">{t("credits.historyDate")}</TableHead>
          <TableHead>{t("credits.historyType")}</TableHead>
          <TableHead>{t("credits.historyDescription")}</TableHead>
          <TableHead className="text-right">{t("credits.historyAmount")}</TableHead>
          <TableHead className="pr-6 text-right">{t("credits.historyBalanceAfter")}</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody className="max-md:block">
        {items.map((item) => {
          const positive = item.amount > 0;
          const description = text.description(item, timeZone);
          return (
            <TableRow
              key={item.id}
              data-testid="transaction-row"
              data-type={item.type}
              className="max-md:grid max-md:grid-cols-[1fr_auto] max-md:gap-x-4 max-md:gap-y-1 max-md:px-6 max-md:py-3"
            >
              <TableCell className="whitespace-nowrap pl-6 text-muted-foreground max-md:col-start-1 max-md:row-start-3 max-md:p-0 max-md:text-xs">
                <time dateTime={item.createdAt}>
                  {format.dateTime(new Date(item.createdAt), {
                    dateStyle: "medium",
                    timeStyle: "short",
                    timeZone,
                  })}
                </time>
              </TableCell>
              <TableCell className="max-md:col-start-1 max-md:row-start-1 max-md:p-0">
                <Badge variant={text.badgeVariant(item.type)}>{text.label(item.type)}</Badge>
              </TableCell>
              <TableCell
                title={description ?? undefined}
                className="max-w-xs truncate max-md:col-start-1 max-md:row-start-2 max-md:max-w-none max-md:whitespace-normal max-md:p-0 max-md:text-sm"
              >
                {description || <span className="text-muted-foreground">—</span>}
              </TableCell>
              <TableCell
                data-testid="transaction-amount"
                className={cn(
                  "whitespace-nowrap text-right font-medium tabular-nums max-md:col-start-2 max-md:row-start-1 max-md:p-0",
                  positive ? "text-success" : item.amount < 0 ? "text-destructive" : "text-muted-foreground",
                )}
              >
                {format.number(item.amount, { signDisplay: "exceptZero" })}
              </TableCell>
              <TableCell
                data-label={t("credits.historyBalanceAfter")}
                className="whitespace-nowrap pr-6 text-right tabular-nums max-md:col-start-2 max-md:row-span-2 max-md:row-start-2 max-md:self-end max-md:p-0 max-md:text-muted-foreground max-md:text-xs max-md:before:mr-1 max-md:before:content-[attr(data-label)]"
              >
                {format.number(item.balanceAfter)}
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
  );
}

function HistorySkeleton() {
  return (
    <div className="flex flex-col gap-3 px-6" data-testid="history-loading">
      {Array.from({ length: 5 }, (_, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: static placeholders with no identity.
        <div key={index} className="flex items-center gap-4">
          <Skeleton className="h-4 w-28" />
          <Skeleton className="h-5 w-20 rounded-md" />
          <Skeleton className="h-4 flex-1" />
          <Skeleton className="h-4 w-12" />
        </div>
      ))}
    </div>
  );
}

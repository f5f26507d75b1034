"use client";

import { useQueryClient } from "@tanstack/react-query";
import { CircleAlert, Hourglass, RefreshCw, Zap } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { Button } from "@/components/ui/button";
import { Card, CardAction, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { cn } from "@/lib/utils";
import { type Balance, creditsKeys, type LowBalanceAlert } from "./credits-api";
import { LowBalanceBanner } from "./low-balance-banner";
import { useBalance } from "./use-balance";

/**
 * The big number is what the user can spend now; held credits and debt are explained below it when present,
 * and the low-balance banner while the balance is under the user's alert threshold.
 */
export function BalanceCard({
  initialBalance,
  initialLowBalanceAlert,
}: {
  initialBalance: Balance | null;
  initialLowBalanceAlert?: LowBalanceAlert | null;
}) {
  const t = useTranslations("credits");
  const format = useFormatter();
  const queryClient = useQueryClient();
  const query = useBalance(initialBalance);

  function refresh() {
    // Refreshing the balance refreshes the history too: they change together.
    void queryClient.invalidateQueries({ queryKey: creditsKeys.all });
  }

  return (
    <Card className="relative overflow-hidden">
      <div
        aria-hidden
        className="pointer-events-none absolute -top-16 -right-16 size-48 rounded-full bg-primary/10 blur-2xl"
      />
      <CardHeader>
        <CardTitle className="flex items-center gap-2 font-medium text-muted-foreground text-sm">
          <Zap className="size-4 text-primary" aria-hidden />
          {t("balanceTitle")}
        </CardTitle>
        <CardAction>
          <Button
            variant="outline"
            size="sm"
            onClick={refresh}
            disabled={query.isFetching}
            aria-busy={query.isFetching}
            data-testid="refresh-balance"
          >
            <RefreshCw className={cn(query.isFetching && "animate-spin")} aria-hidden />
            <span className="max-sm:sr-only">{t("refresh")}</span>
          </Button>
        </CardAction>
      </CardHeader>
      <CardContent>
        {query.data ? (
          <p className="flex items-baseline gap-2">
            <span data-testid="balance-value" className="font-semibold text-5xl tabular-nums tracking-tight">
              {format.number(query.data.available)}
            </span>
            <span className="text-muted-foreground">{t("balanceUnit", { count: query.data.available })}</span>
          </p>
        ) : query.isError ? (
          <p role="alert" className="text-destructive text-sm">
            {t("balanceError")}
          </p>
        ) : (
          <Skeleton className="h-12 w-40" />
        )}
        <p className="mt-2 text-muted-foreground text-sm">{t("balanceDescription")}</p>
        <LowBalanceBanner initialAlert={initialLowBalanceAlert} />
        {query.data && (query.data.held > 0 || query.data.debt > 0) ? (
          <div className="mt-4 flex flex-col gap-2 border-t pt-4 text-sm">
            {query.data.held > 0 ? (
              <p data-testid="balance-held" className="flex items-start gap-2">
                <Hourglass className="mt-0.5 size-4 shrink-0 text-muted-foreground" aria-hidden />
                <span>
                  <span className="font-medium tabular-nums">
                    {t("heldLabel", { count: query.data.held })}
                  </span>
                  <span className="text-muted-foreground"> · {t("heldHint")}</span>
                </span>
              </p>
            ) : null}
            {query.data.debt > 0 ? (
              <p data-testid="balance-debt" className="flex items-start gap-2">
                <CircleAlert className="mt-0.5 size-4 shrink-0 text-warning" aria-hidden />
                <span>
                  <span className="font-medium tabular-nums">
                    {t("owedLabel", { count: query.data.debt })}
                  </span>
                  <span className="text-muted-foreground"> · {t("owedHint")}</span>
                </span>
              </p>
            ) : null}
          </div>
        ) : null}
      </CardContent>
    </Card>
  );
}

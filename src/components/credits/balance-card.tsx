"use client";

import { useQueryClient } from "@tanstack/react-query";
import { RefreshCw, Zap } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import { Button } from "@/components/ui/button";
import { Card, CardAction, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { cn } from "@/lib/utils";
import { creditsKeys } from "./credits-api";
import { useBalance } from "./use-balance";

export function BalanceCard({ initialBalance }: { initialBalance: number | null }) {
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
        <CardDescription className="sr-only">{t("balanceDescription")}</CardDescription>
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
              {format.number(query.data.balance)}
            </span>
            <span className="text-muted-foreground">{t("balanceUnit", { count: query.data.balance })}</span>
          </p>
        ) : query.isError ? (
          <p role="alert" className="text-destructive text-sm">
            {t("balanceError")}
          </p>
        ) : (
          <Skeleton className="h-12 w-40" />
        )}
        <p className="mt-2 text-muted-foreground text-sm">{t("balanceDescription")}</p>
      </CardContent>
    </Card>
  );
}

"use client";

import { Zap } from "lucide-react";
import { useFormatter, useTranslations } from "next-intl";
import type { Balance } from "@/components/credits/credits-api";
import { useBalance } from "@/components/credits/use-balance";
import { Skeleton } from "@/components/ui/skeleton";
import { Link } from "@/i18n/navigation";

/** Shares the ["credits","balance"] cache with the credits page, so a purchase updates both at once. */
export function HeaderBalance({ initialBalance }: { initialBalance: Balance | null }) {
  const t = useTranslations("header");
  const format = useFormatter();
  const query = useBalance(initialBalance);

  if (query.data === undefined) {
    return <Skeleton className="h-7 w-16 rounded-full" />;
  }

  // What the user can spend now, like the big number on the credits page.
  const balance = query.data.available;
  return (
    <Link
      href="/settings/credits"
      data-testid="header-balance"
      aria-label={t("balanceLabel", { count: balance })}
      title={t("balanceLabel", { count: balance })}
      className="inline-flex h-7 items-center gap-1.5 rounded-full border bg-secondary/60 px-2.5 font-medium text-sm tabular-nums transition-colors hover:bg-accent"
    >
      <Zap className="size-3.5 text-primary" aria-hidden />
      {format.number(balance)}
    </Link>
  );
}

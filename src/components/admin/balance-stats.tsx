import { useFormatter, useTranslations } from "next-intl";
import type { Balance } from "@/components/credits/credits-api";
import { cn } from "@/lib/utils";

/** The four numbers behind a user's balance, each with a one-line meaning. */
export function BalanceStats({ balance }: { balance: Balance }) {
  const t = useTranslations("admin");
  const format = useFormatter();
  const stats = [
    { key: "available", value: balance.available, label: t("statAvailable"), hint: t("statAvailableHint") },
    { key: "balance", value: balance.balance, label: t("statBalance"), hint: t("statBalanceHint") },
    { key: "held", value: balance.held, label: t("statHeld"), hint: t("statHeldHint") },
    { key: "debt", value: balance.debt, label: t("statDebt"), hint: t("statDebtHint") },
  ] as const;

  return (
    <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      {stats.map((stat) => (
        <div key={stat.key} className="rounded-xl border bg-card px-4 py-3.5 shadow-xs">
          <dt className="font-medium text-muted-foreground text-xs">{stat.label}</dt>
          <dd
            data-testid={`admin-${stat.key}`}
            className={cn(
              "mt-1 font-semibold text-2xl tabular-nums tracking-tight",
              stat.key === "debt" && stat.value > 0 && "text-destructive",
              stat.key !== "available" && stat.value === 0 && "text-muted-foreground",
            )}
          >
            {format.number(stat.value)}
          </dd>
          <dd className="mt-0.5 text-muted-foreground text-xs">{stat.hint}</dd>
        </div>
      ))}
    </dl>
  );
}

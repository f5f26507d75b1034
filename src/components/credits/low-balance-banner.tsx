"use client";

import { TriangleAlert } from "lucide-react";
import { useTranslations } from "next-intl";
import type { LowBalanceAlert } from "./credits-api";
import { useLowBalanceAlert } from "./use-low-balance-alert";

/**
 * The low-balance banner: shown from the spend that took the available balance below the user's threshold
 * until the balance is back at or above it (the server decides: GET /api/credits/low-balance-alert). Part
 * of the balance card, so it shows wherever the balance does.
 */
export function LowBalanceBanner({ initialAlert }: { initialAlert?: LowBalanceAlert | null }) {
  const t = useTranslations("credits");
  const { data } = useLowBalanceAlert(initialAlert);
  if (!data?.low || data.effectiveThreshold === null) return null;
  return (
    <div
      role="status"
      data-testid="low-balance-banner"
      className="mt-4 flex items-start gap-2 rounded-lg border border-warning/50 bg-warning/10 px-3 py-2.5 text-sm"
    >
      <TriangleAlert className="mt-0.5 size-4 shrink-0 text-warning" aria-hidden />
      <p>
        <span className="font-medium">{t("lowBalanceBannerTitle")}</span>{" "}
        <span>{t("lowBalanceBannerText", { threshold: data.effectiveThreshold })}</span>{" "}
        <a href="#buy-credits-title" className="font-medium underline underline-offset-4">
          {t("lowBalanceBannerAction")}
        </a>
      </p>
    </div>
  );
}

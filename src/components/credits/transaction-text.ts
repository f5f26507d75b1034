import { useFormatter, useTranslations } from "next-intl";
import { usePackageName } from "@/components/pricing/package-card";
import { usePlanName } from "@/components/pricing/plan-card";
import type { BadgeProps } from "@/components/ui/badge";
import { COST_CATALOG, type FeatureId } from "@/features/cost-catalog";
import type { Transaction } from "./credits-api";
import { type PlanPeriodItem, planPeriodText } from "./plan-period-text";

/** Message keys of the features in the cost catalog (message keys cannot contain the catalog's dots). */
export const FEATURE_MESSAGE_KEYS: Record<FeatureId, string> = { "image.generate": "imageGenerate" };

/** Entries that name a package: their description is rebuilt in the reader's language. */
const PACKAGE_TYPES = new Set(["purchase", "refund", "dispute", "dispute_reversal"]);
/** Entries whose stored description is always the same system text. */
const FIXED_TYPES = new Set(["signup_gift", "expire", "debt_repayment"]);
const BADGE_VARIANTS: Record<string, NonNullable<BadgeProps["variant"]>> = {
  purchase: "success",
  grant: "success",
  signup_gift: "success",
  subscription: "success",
  rollover: "success",
  free_plan: "success",
  dispute_reversal: "success",
  refund: "destructive",
  dispute: "destructive",
  expire: "warning",
  debt_repayment: "warning",
};

/**
 * Labels and descriptions of ledger entries, translated. Hook-only, so the credits page (client) and the
 * admin console (server) render the same words. Operators' reasons and API descriptions stay as written.
 */
export function useTransactionText() {
  const t = useTranslations();
  const format = useFormatter();
  const packageName = usePackageName();
  const planName = usePlanName();

  function label(type: string): string {
    const key = `transactionTypes.${type}`;
    return t.has(key) ? t(key) : t("transactionTypes.unknown");
  }

  /**
   * "Pro credits for Nov 30, 2026 – Dec 30, 2026" (plan-period-text.ts): the plan in the reader's language
   * and the period's days in `timeZone` (the reader's: the caller passes it, since this hook also runs on
   * the server).
   */
  function planPeriod(item: PlanPeriodItem, timeZone: string): string | null {
    return planPeriodText(item, {
      t: (key, values) => t(key, values),
      day: (date) => format.dateTime(date, { dateStyle: "medium", timeZone }),
      plan: (id) => planName({ id }),
    });
  }

  function description(
    item: Pick<
      Transaction,
      | "type"
      | "description"
      | "packageId"
      | "planId"
      | "periodStart"
      | "periodEnd"
      | "periodKind"
      | "usableUntil"
      | "lateReason"
    >,
    timeZone = "UTC",
  ): string | null {
    const period = planPeriod(item, timeZone);
    if (period) return period;
    if (PACKAGE_TYPES.has(item.type) && item.packageId) {
      return t(`transactionDescriptions.${item.type}`, { name: packageName({ id: item.packageId }) });
    }
    // A refund or dispute of a subscription invoice names its plan.
    if (PACKAGE_TYPES.has(item.type) && item.planId) {
      return t(`transactionDescriptions.${item.type}Plan`, { plan: planName({ id: item.planId }) });
    }
    if (FIXED_TYPES.has(item.type)) return t(`transactionDescriptions.${item.type}`);
    if (item.type === "consume") {
      for (const [id, entry] of Object.entries(COST_CATALOG)) {
        if (entry.description === item.description)
          return t(`features.${FEATURE_MESSAGE_KEYS[id as FeatureId]}`);
      }
    }
    return item.description || null;
  }

  function badgeVariant(type: string): NonNullable<BadgeProps["variant"]> {
    return BADGE_VARIANTS[type] ?? "secondary";
  }

  return { label, description, badgeVariant };
}

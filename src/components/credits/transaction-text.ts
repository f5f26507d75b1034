import { useTranslations } from "next-intl";
import { usePackageName } from "@/components/pricing/package-card";
import type { BadgeProps } from "@/components/ui/badge";
import { COST_CATALOG, type FeatureId } from "@/features/cost-catalog";
import type { Transaction } from "./credits-api";

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
  const packageName = usePackageName();

  function label(type: string): string {
    const key = `transactionTypes.${type}`;
    return t.has(key) ? t(key) : t("transactionTypes.unknown");
  }

  function description(item: Pick<Transaction, "type" | "description" | "packageId">): string | null {
    if (PACKAGE_TYPES.has(item.type) && item.packageId) {
      return t(`transactionDescriptions.${item.type}`, { name: packageName({ id: item.packageId }) });
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

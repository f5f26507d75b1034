import { z } from "zod";
import { creditAmountSchema, descriptionSchema } from "@/credits/schemas";

/**
 * Validates a cost catalog, throwing one readable error that names the feature and field: a cost a hold
 * cannot reserve (not a whole number from 1 to 1,000,000,000) or a description the ledger cannot store
 * would otherwise fail on every use of the feature, after the user asked for it. Run when this module
 * loads, so a bad catalog stops the app at start, like the package catalog (src/catalog/packages.ts).
 */
export function parseCostCatalog<Catalog extends Record<string, { credits: number; description: string }>>(
  catalog: Catalog,
): Catalog {
  const problems = Object.entries(catalog).flatMap(([feature, entry]) => {
    const parsed = z
      .object({ credits: creditAmountSchema, description: descriptionSchema })
      .strict()
      .safeParse(entry);
    return parsed.success
      ? []
      : parsed.error.issues.map(
          (issue) => `feature ${JSON.stringify(feature)} ${issue.path.join(".")}: ${issue.message}`,
        );
  });
  if (problems.length > 0)
    throw new Error(`Invalid cost catalog (src/features/cost-catalog.ts): ${problems.join("; ")}`);
  return catalog;
}

/**
 * What each metered feature costs, decided by the server only: clients name a feature, never a price.
 */
export const COST_CATALOG = parseCostCatalog({
  "image.generate": { credits: 5, description: "Generate image" },
} as const);

export type FeatureId = keyof typeof COST_CATALOG;

export function featureCost(feature: FeatureId): number {
  return COST_CATALOG[feature].credits;
}

/**
 * What each metered feature costs, decided by the server only: clients name a feature, never a price.
 */
export const COST_CATALOG = {
  "image.generate": { credits: 5, description: "Generate image" },
} as const satisfies Record<string, { credits: number; description: string }>;

export type FeatureId = keyof typeof COST_CATALOG;

export function featureCost(feature: FeatureId): number {
  return COST_CATALOG[feature].credits;
}

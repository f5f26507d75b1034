import { z } from "zod";

/** ISO 4217 code, lower-case as Stripe uses it. */
export const currencySchema = z.string().regex(/^[a-z]{3}$/);

/** Amounts are integers in the currency's minor unit (cents for USD, yen for JPY). Never floats. */
export const moneySchema = z.object({
  amount: z.number().int().positive(),
  currency: currencySchema,
});
export type Money = z.infer<typeof moneySchema>;

export const creditPackageSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/),
  /** The display name's message key suffix: `packages.<id>.name` in messages/*.json. */
  credits: z.number().int().positive(),
  price: moneySchema,
  popular: z.boolean(),
  /** A message key, so the description is translated like every other UI string. */
  description: z.string(),
  /** Credits from this package expire this many days after the purchase; absent = never. */
  expireDays: z.number().int().positive().optional(),
  /** Disabled packages stay in the config (old purchases refer to them) but cannot be bought. */
  disabled: z.boolean().default(false),
});
export type CreditPackage = z.infer<typeof creditPackageSchema>;

/**
 * The packages on sale. The server is the only place a price or a credit amount is decided:
 * a purchase snapshots the package at the moment its PaymentIntent is created.
 */
export const CREDIT_PACKAGES: readonly CreditPackage[] = z.array(creditPackageSchema).parse([
  {
    id: "basic",
    credits: 100,
    price: { amount: 999, currency: "usd" },
    popular: false,
    description: "packages.basic.description",
  },
  {
    id: "standard",
    credits: 500,
    price: { amount: 3999, currency: "usd" },
    popular: true,
    description: "packages.standard.description",
  },
  {
    id: "premium",
    credits: 1200,
    price: { amount: 7999, currency: "usd" },
    popular: false,
    description: "packages.premium.description",
  },
  {
    id: "enterprise",
    credits: 5000,
    price: { amount: 24999, currency: "usd" },
    popular: false,
    description: "packages.enterprise.description",
    expireDays: 365,
  },
]);

export const PACKAGE_NAMES: Record<string, string> = {
  basic: "Basic",
  standard: "Standard",
  premium: "Premium",
  enterprise: "Enterprise",
};

export function packageName(pkg: Pick<CreditPackage, "id">): string {
  return PACKAGE_NAMES[pkg.id] ?? pkg.id;
}

export function listPackagesOnSale(packages: readonly CreditPackage[] = CREDIT_PACKAGES): CreditPackage[] {
  return packages.filter((pkg) => !pkg.disabled);
}

/** Returns the package only if it exists and is on sale. */
export function findPackageOnSale(
  packageId: string,
  packages: readonly CreditPackage[] = CREDIT_PACKAGES,
): CreditPackage | undefined {
  return packages.find((pkg) => pkg.id === packageId && !pkg.disabled);
}

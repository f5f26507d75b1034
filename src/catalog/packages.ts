import { z } from "zod";
import { MAX_CREDITS_PER_OPERATION, MAX_EXPIRE_DAYS } from "@/credits/schemas";
import { stripeChargeProblem } from "./currencies";

/**
 * The largest value of a PostgreSQL `integer` column: a purchase stores its package's credits, price and
 * expiry days in `integer` columns (src/db/schema/credits.ts), so a catalog value past it could be shown
 * and paid for but not recorded.
 */
export const POSTGRES_INTEGER_MAX = 2_147_483_647;

/** ISO 4217 code, lower-case as Stripe uses it. */
export const currencySchema = z.string().regex(/^[a-z]{3}$/);

/**
 * Amounts are integers in the currency's minor unit as Stripe's API counts it (cents for USD, yen for
 * JPY, 1/100 króna for ISK: see src/catalog/currencies.ts). Never floats.
 */
export const moneySchema = z.object({
  amount: z.number().int("must be a whole number of minor units").positive("must be positive"),
  currency: currencySchema,
});
export type Money = z.infer<typeof moneySchema>;

/**
 * A price Stripe would accept for a charge: a multiple of the currency's step (whole krónur for ISK and
 * UGX, a last digit of 0 for the three-decimal currencies), within the digit limit and at least Stripe's
 * minimum charge. The catalog is parsed when this module loads, so a price Stripe would refuse stops the
 * app at start instead of failing a customer's payment.
 */
export const priceSchema = moneySchema.superRefine((price, ctx) => {
  // IDR allows 12 digits in Stripe, more than the purchase's integer column holds.
  if (price.amount > POSTGRES_INTEGER_MAX) {
    ctx.addIssue({
      code: "custom",
      message: `must be at most ${POSTGRES_INTEGER_MAX} minor units (the purchase's integer column)`,
      path: ["amount"],
    });
    return;
  }
  const problem = stripeChargeProblem(price);
  if (problem)
    ctx.addIssue({ code: "custom", message: `Stripe would refuse this price: ${problem}`, path: ["amount"] });
});

export const creditPackageSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/),
  /** The display name's message key suffix: `packages.<id>.name` in messages/*.json. */
  /**
   * Granted in one ledger operation when the purchase is paid, so within the ledger's per-operation limit
   * (which also keeps it inside the purchase's integer column): a larger value would fail at the grant,
   * after the customer has paid.
   */
  credits: z
    .number()
    .int("must be a whole number of credits")
    .positive("must be positive")
    .max(MAX_CREDITS_PER_OPERATION, `must be at most ${MAX_CREDITS_PER_OPERATION} credits per package`),
  price: priceSchema,
  popular: z.boolean(),
  /** A message key, so the description is translated like every other UI string. */
  description: z.string(),
  /** Credits from this package expire this many days after the purchase; absent = never. */
  expireDays: z
    .number()
    .int("must be a whole number of days")
    .positive("must be positive")
    .max(MAX_EXPIRE_DAYS, `must be at most ${MAX_EXPIRE_DAYS} days (what a grant accepts)`)
    .optional(),
  /** Disabled packages stay in the config (old purchases refer to them) but cannot be bought. */
  disabled: z.boolean().default(false),
});
export type CreditPackage = z.infer<typeof creditPackageSchema>;

/**
 * The packages on sale. The server is the only place a price or a credit amount is decided:
 * a purchase snapshots the package at the moment its PaymentIntent is created.
 */
export const CREDIT_PACKAGES: readonly CreditPackage[] = parseCreditPackages([
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

/**
 * Validates a catalog, throwing one readable error that names the package and what is wrong (for a
 * price: why Stripe would refuse it), so a bad catalog stops the app at start.
 */
export function parseCreditPackages(input: unknown[]): CreditPackage[] {
  const parsed = z.array(creditPackageSchema).safeParse(input);
  const ids = input.map((item) => (item as { id?: unknown } | undefined)?.id);
  const duplicate = ids.find((id, index) => id !== undefined && ids.indexOf(id) !== index);
  if (parsed.success && duplicate !== undefined)
    throw new Error(
      `Invalid credit packages (src/catalog/packages.ts): package ${JSON.stringify(duplicate)} id: appears twice`,
    );
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const [index, ...path] = issue.path;
    const id = (input[index as number] as { id?: unknown } | undefined)?.id;
    return `package ${JSON.stringify(id ?? index)} ${path.join(".")}: ${issue.message}`;
  });
  throw new Error(`Invalid credit packages (src/catalog/packages.ts): ${problems.join("; ")}`);
}

/**
 * English names by package id, for the server's own text (Stripe's description, ledger entries, the JSON
 * API's `name`); pages show the translated `packages.<id>.name` instead.
 */
export const PACKAGE_NAMES: Record<string, string> = {
  basic: "Basic",
  standard: "Standard",
  premium: "Premium",
  enterprise: "Enterprise",
};

/** The package's English name, or its id when it has none. */
export function packageName(pkg: Pick<CreditPackage, "id">): string {
  return PACKAGE_NAMES[pkg.id] ?? pkg.id;
}

/** The packages that can be bought (not disabled), in catalog order. */
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

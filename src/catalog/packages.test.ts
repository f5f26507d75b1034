import { describe, expect, it } from "vitest";
import { parseCreditPackages } from "./packages";

const base = {
  id: "bulk",
  credits: 100,
  price: { amount: 999, currency: "usd" },
  popular: false,
  description: "packages.basic.description",
};

/** Stops the app at start, naming the package and the field, instead of failing after a customer paid. */
function refusal(overrides: Record<string, unknown>): string {
  try {
    parseCreditPackages([{ ...base, ...overrides }]);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(overrides)}`);
}

describe("the package catalog refuses values that cannot be stored or charged", () => {
  it("credits: whole, positive, within what one grant and the purchase's integer column take", () => {
    expect(refusal({ credits: 1.5 })).toMatch(/package "bulk" credits: must be a whole number of credits/);
    expect(refusal({ credits: -5 })).toMatch(/package "bulk" credits: must be positive/);
    // Fits no grant (limit 1,000,000,000 per operation) and no `integer` column.
    expect(refusal({ credits: 3_000_000_000 })).toMatch(
      /package "bulk" credits: must be at most 1000000000 credits per package/,
    );
  });

  it("expireDays: whole days, at most what a grant accepts", () => {
    expect(refusal({ expireDays: 0.5 })).toMatch(/package "bulk" expireDays: must be a whole number of days/);
    expect(refusal({ expireDays: 0 })).toMatch(/package "bulk" expireDays: must be positive/);
    expect(refusal({ expireDays: 40_000 })).toMatch(/package "bulk" expireDays: must be at most 36500 days/);
  });

  it("price: whole minor units, Stripe's maximum, and the purchase's integer column", () => {
    expect(refusal({ price: { amount: 9.99, currency: "usd" } })).toMatch(
      /package "bulk" price\.amount: must be a whole number of minor units/,
    );
    // Stripe's maximum for USD is 99999999 (8 digits).
    expect(refusal({ price: { amount: 100_000_000, currency: "usd" } })).toMatch(
      /package "bulk" price\.amount: .*at most 8 digits/,
    );
    expect(() =>
      parseCreditPackages([{ ...base, price: { amount: 99_999_999, currency: "usd" } }]),
    ).not.toThrow();
    // IDR takes 12 digits in Stripe, more than an `integer` column holds.
    expect(refusal({ price: { amount: 100_000_000_000, currency: "idr" } })).toMatch(
      /package "bulk" price\.amount: must be at most 2147483647 minor units/,
    );
  });

  it("ids: one package per id", () => {
    expect(() => parseCreditPackages([base, { ...base, credits: 200 }])).toThrow(
      /package "bulk" id: appears twice/,
    );
  });
});

import { describe, expect, it } from "vitest";
import { formatMoney } from "./format-money";
import { CREDIT_PACKAGES, findPackageOnSale, listPackagesOnSale } from "./packages";

describe("formatMoney", () => {
  it("uses the currency's own number of fraction digits", () => {
    expect(formatMoney({ amount: 999, currency: "usd" }, "en")).toBe("$9.99");
    expect(formatMoney({ amount: 999, currency: "jpy" }, "en")).toBe("¥999");
    expect(formatMoney({ amount: 1050, currency: "eur" }, "de")).toBe("10,50\u00a0€");
  });

  it("formats for the active locale", () => {
    expect(formatMoney({ amount: 3999, currency: "usd" }, "zh")).toBe("US$39.99");
  });
});

describe("credit packages", () => {
  it("prices every package in integer minor units", () => {
    for (const pkg of CREDIT_PACKAGES) {
      expect(Number.isInteger(pkg.price.amount)).toBe(true);
      expect(Number.isInteger(pkg.credits)).toBe(true);
    }
    expect(CREDIT_PACKAGES.map((pkg) => pkg.id)).toEqual(["basic", "standard", "premium", "enterprise"]);
    expect(CREDIT_PACKAGES.filter((pkg) => pkg.popular).map((pkg) => pkg.id)).toEqual(["standard"]);
  });

  it("never sells a disabled package", () => {
    const packages = [
      {
        id: "old",
        credits: 1,
        price: { amount: 100, currency: "usd" },
        popular: false,
        description: "x",
        disabled: true,
      },
      {
        id: "new",
        credits: 2,
        price: { amount: 200, currency: "usd" },
        popular: false,
        description: "y",
        disabled: false,
      },
    ];
    expect(findPackageOnSale("old", packages)).toBeUndefined();
    expect(findPackageOnSale("new", packages)?.credits).toBe(2);
    expect(listPackagesOnSale(packages).map((pkg) => pkg.id)).toEqual(["new"]);
    expect(findPackageOnSale("missing")).toBeUndefined();
  });
});

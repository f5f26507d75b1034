import { describe, expect, it } from "vitest";
import { currencyRule, formatAmountText, parseAmountText, stripeAmountProblem } from "./currencies";
import { formatMoney } from "./format-money";
import { creditPackageSchema, parseCreditPackages } from "./packages";

/**
 * Stripe's currency table (https://docs.stripe.com/currencies): one test per special case, and for a
 * zero- and a three-decimal currency. Each covers what a customer sees (a price), what an operator may
 * type as a refund, and what the catalog accepts at start.
 */
const pkg = (amount: number, currency: string) => ({
  id: "test",
  credits: 100,
  price: { amount, currency },
  popular: false,
  description: "packages.basic.description",
});
const priceAccepted = (amount: number, currency: string) =>
  creditPackageSchema.safeParse(pkg(amount, currency)).success;

describe("Stripe's special cases", () => {
  it("ISK is two-decimal in Stripe's API but charged in whole krónur: 100 is 1 króna", () => {
    expect(formatMoney({ amount: 50_000, currency: "isk" }, "en")).toBe("ISK\u00a0500");
    expect(formatMoney({ amount: 50_000, currency: "isk" }, "de")).toBe("500\u00a0ISK");
    // A refund typed as 10 krónur is 1000 minor units; a fraction of a króna is refused before Stripe.
    expect(parseAmountText("10", "isk")).toEqual({ ok: true, amount: 1000 });
    expect(parseAmountText("10.50", "isk")).toMatchObject({
      ok: false,
      reason: "step",
      lower: 1000,
      higher: 1100,
    });
    expect(stripeAmountProblem({ amount: 1050, currency: "isk" })).toMatch(/whole units of ISK/);
    expect(stripeAmountProblem({ amount: 1000, currency: "isk" })).toBeNull();
    expect(priceAccepted(50_000, "isk")).toBe(true);
    expect(priceAccepted(50_050, "isk")).toBe(false);
    expect(formatAmountText({ amount: 50_000, currency: "isk" })).toBe("500");
  });

  it("UGX is two-decimal in Stripe's API although Stripe also lists it as zero-decimal: whole shillings", () => {
    expect(currencyRule("ugx")).toMatchObject({ exponent: 2, step: 100 });
    expect(formatMoney({ amount: 500_000, currency: "ugx" }, "en")).toBe("UGX\u00a05,000");
    expect(parseAmountText("5000", "ugx")).toEqual({ ok: true, amount: 500_000 });
    expect(parseAmountText("5000.5", "ugx")).toMatchObject({ ok: false, reason: "step" });
    expect(priceAccepted(500_000, "ugx")).toBe(true);
    expect(priceAccepted(500_001, "ugx")).toBe(false);
  });

  it("HUF is charged and refunded with two decimals (Intl would read 1045 as 1,045 forints)", () => {
    expect(formatMoney({ amount: 1045, currency: "huf" }, "en")).toBe("HUF\u00a010.45");
    expect(formatMoney({ amount: 500_000, currency: "huf" }, "en")).toBe("HUF\u00a05,000");
    expect(formatMoney({ amount: 500_000, currency: "huf" }, "hu")).toBe("5000\u00a0Ft");
    // An operator typing 10 means 10 forints, not 10 fillér.
    expect(parseAmountText("10", "huf")).toEqual({ ok: true, amount: 1000 });
    expect(parseAmountText("10.45", "huf")).toEqual({ ok: true, amount: 1045 });
    expect(stripeAmountProblem({ amount: 1045, currency: "huf" })).toBeNull();
    // Stripe's minimum charge in HUF is 175.00.
    expect(priceAccepted(17_500, "huf")).toBe(true);
    expect(priceAccepted(17_499, "huf")).toBe(false);
  });

  it("TWD is charged with two decimals and priced in whole dollars: NT$300, not NT$300.00", () => {
    expect(formatMoney({ amount: 30_000, currency: "twd" }, "en")).toBe("NT$300");
    expect(formatMoney({ amount: 30_045, currency: "twd" }, "en")).toBe("NT$300.45");
    expect(formatMoney({ amount: 30_000, currency: "twd" }, "zh")).toBe("NT$300");
    expect(parseAmountText("300", "twd")).toEqual({ ok: true, amount: 30_000 });
    expect(parseAmountText("300.45", "twd")).toEqual({ ok: true, amount: 30_045 });
    expect(formatAmountText({ amount: 30_000, currency: "twd" })).toBe("300");
  });
});

describe("zero- and three-decimal currencies", () => {
  it("JPY amounts are whole yen; a price below Stripe's ¥50 minimum fails at start", () => {
    expect(formatMoney({ amount: 999, currency: "jpy" }, "en")).toBe("¥999");
    expect(parseAmountText("500", "jpy")).toEqual({ ok: true, amount: 500 });
    expect(parseAmountText("5.5", "jpy")).toEqual({ ok: false, reason: "decimals", decimals: 0 });
    expect(priceAccepted(50, "jpy")).toBe(true);
    expect(priceAccepted(30, "jpy")).toBe(false);
  });

  it("KWD has three decimals and Stripe takes only amounts whose last digit is 0", () => {
    expect(formatMoney({ amount: 1230, currency: "kwd" }, "en")).toBe("KWD\u00a01.230");
    expect(parseAmountText("1.23", "kwd")).toEqual({ ok: true, amount: 1230 });
    expect(parseAmountText("1.234", "kwd")).toMatchObject({
      ok: false,
      reason: "step",
      lower: 1230,
      higher: 1240,
    });
    expect(stripeAmountProblem({ amount: 5124, currency: "kwd" })).toMatch(/5\.120 or 5\.130/);
    expect(priceAccepted(1230, "kwd")).toBe(true);
    expect(priceAccepted(1234, "kwd")).toBe(false);
    for (const code of ["bhd", "jod", "omr", "tnd"])
      expect(currencyRule(code)).toMatchObject({ exponent: 3, step: 10 });
  });

  it("refuses a refund typed with more decimals than Stripe's exponent, trailing zeros included", () => {
    expect(parseAmountText("10.005", "usd")).toEqual({ ok: false, reason: "decimals", decimals: 2 });
    // A thousands separator is not read as a decimal point: "1,000" is not 1.00 USD nor 1 yen.
    expect(parseAmountText("1,000", "usd")).toEqual({ ok: false, reason: "decimals", decimals: 2 });
    expect(parseAmountText("10.000", "usd")).toEqual({ ok: false, reason: "decimals", decimals: 2 });
    expect(parseAmountText("1.000", "jpy")).toEqual({ ok: false, reason: "decimals", decimals: 0 });
    expect(parseAmountText("1.000", "isk")).toEqual({ ok: false, reason: "decimals", decimals: 2 });
    expect(parseAmountText("10.50", "usd")).toEqual({ ok: true, amount: 1050 });
    expect(parseAmountText("10,5", "eur")).toEqual({ ok: true, amount: 1050 });
    expect(parseAmountText("1.230", "kwd")).toEqual({ ok: true, amount: 1230 });
  });

  it("stops the catalog at start with a message naming the package and Stripe's rule", () => {
    expect(() => parseCreditPackages([{ ...pkg(1234, "kwd"), id: "gulf" }])).toThrow(
      /package "gulf" price\.amount: Stripe would refuse this price: KWD amounts go in multiples of 0\.010 KWD/,
    );
    expect(() => parseCreditPackages([{ ...pkg(10, "usd"), id: "cheap" }])).toThrow(
      /minimum charge in USD is 0\.50/,
    );
  });
});

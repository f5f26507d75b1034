import { describe, expect, it } from "vitest";
import { findPaidPlanOnSale, PLANS, parsePlans } from "./plans";

const base = {
  id: "team",
  name: "plans.team.name",
  description: "plans.team.description",
  interval: "month",
  price: { amount: 2900, currency: "usd" },
  creditsPerMonth: 2000,
  rollover: { policy: "capped", cap: 2000 },
};
const free = {
  ...base,
  id: "free",
  name: "plans.free.name",
  description: "plans.free.description",
  price: null,
};

/** Stops the app at start, naming the plan and the field, instead of failing a grant after a customer paid. */
function refusal(overrides: Record<string, unknown>, others: unknown[] = [free]): string {
  try {
    parsePlans([...others, { ...base, ...overrides }]);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(overrides)}`);
}

describe("the plan catalog", () => {
  it("has the issue's defaults: Free 50, Pro monthly $19 and yearly $190 at 1,000 a month, Max $49 at 5,000", () => {
    const summary = PLANS.map((plan) => ({
      id: plan.id,
      interval: plan.interval,
      price: plan.price,
      creditsPerMonth: plan.creditsPerMonth,
      rollover: plan.rollover,
    }));
    expect(summary).toEqual([
      { id: "free", interval: "month", price: null, creditsPerMonth: 50, rollover: { policy: "none" } },
      {
        id: "pro-monthly",
        interval: "month",
        price: { amount: 1900, currency: "usd" },
        creditsPerMonth: 1000,
        rollover: { policy: "capped", cap: 1000 },
      },
      {
        id: "pro-yearly",
        interval: "year",
        price: { amount: 19000, currency: "usd" },
        creditsPerMonth: 1000,
        rollover: { policy: "capped", cap: 1000 },
      },
      {
        id: "max-monthly",
        interval: "month",
        price: { amount: 4900, currency: "usd" },
        creditsPerMonth: 5000,
        rollover: { policy: "capped", cap: 5000 },
      },
    ]);
  });

  it("offers only paid plans on sale for a subscription: not the free plan, not a disabled one", () => {
    expect(findPaidPlanOnSale("pro-monthly")?.id).toBe("pro-monthly");
    expect(findPaidPlanOnSale("free")).toBeUndefined();
    expect(findPaidPlanOnSale("nope")).toBeUndefined();
    const plans = parsePlans([free, { ...base, disabled: true }]);
    expect(findPaidPlanOnSale("team", plans)).toBeUndefined();
  });
});

describe("the plan catalog refuses values that cannot be granted, stored or charged", () => {
  it("creditsPerMonth: whole, positive, within one grant, a year within the purchase's integer column", () => {
    expect(refusal({ creditsPerMonth: 1.5 })).toMatch(/plan "team" creditsPerMonth: must be a whole number/);
    expect(refusal({ creditsPerMonth: 0 })).toMatch(/plan "team" creditsPerMonth: must be positive/);
    expect(refusal({ creditsPerMonth: 200_000_000, rollover: { policy: "none" } })).toMatch(
      /plan "team" creditsPerMonth: a year of it must be at most 2147483647 credits/,
    );
  });

  it("price: Stripe's rules as for packages", () => {
    expect(refusal({ price: { amount: 19.5, currency: "usd" } })).toMatch(
      /plan "team" price\.amount: must be a whole number of minor units/,
    );
    expect(refusal({ price: { amount: 100_000_000, currency: "usd" } })).toMatch(
      /plan "team" price\.amount: .*at most 8 digits/,
    );
  });

  it("rollover: a known policy, a cap that is whole, positive and at most a year of credits", () => {
    expect(refusal({ rollover: { policy: "forever" } })).toMatch(/plan "team" rollover/);
    expect(refusal({ rollover: { policy: "capped", cap: 0 } })).toMatch(
      /plan "team" rollover\.cap: must be positive/,
    );
    expect(refusal({ rollover: { policy: "capped", cap: 24_001 } })).toMatch(
      /plan "team" rollover\.cap: must be at most a year of credits \(24000\)/,
    );
  });

  it("ids and message keys: one plan per id, names and descriptions are the plan's message keys", () => {
    expect(refusal({}, [free, base])).toMatch(/plan "team" id: appears twice/);
    expect(refusal({ name: "Team" })).toMatch(/plan "team" name: must be "plans\.team\.name"/);
    expect(refusal({ description: "plans.other.description" })).toMatch(/plan "team" description/);
  });

  it("exactly one free plan, and it is monthly", () => {
    expect(refusal({}, [])).toMatch(/exactly one plan must have no price \(the free plan\), found 0/);
    expect(refusal({ price: null })).toMatch(/found 2/);
    expect(() => parsePlans([{ ...free, interval: "year" }])).toThrow(
      /plan "free" interval: the free plan grants monthly/,
    );
  });

  it("trial: whole days and credits", () => {
    expect(refusal({ trial: { days: 0, credits: 100 } })).toMatch(/plan "team" trial\.days/);
    expect(refusal({ trial: { days: 7, credits: -1 } })).toMatch(/plan "team" trial\.credits/);
    expect(() => parsePlans([free, { ...base, trial: { days: 14, credits: 200 } }])).not.toThrow();
  });

  it("trial: only a paid plan has one (the free plan has nothing to try)", () => {
    expect(() => parsePlans([{ ...free, trial: { days: 7, credits: 10 } }, base])).toThrow(
      /plan "free" trial: the free plan has nothing to try/,
    );
  });

  it("the default catalog: Max monthly alone offers a trial, 7 days and 500 credits", () => {
    expect(PLANS.filter((plan) => plan.trial).map((plan) => [plan.id, plan.trial])).toEqual([
      ["max-monthly", { days: 7, credits: 500 }],
    ]);
  });
});

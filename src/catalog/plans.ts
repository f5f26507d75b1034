import { z } from "zod";
import { MAX_CREDITS_PER_OPERATION } from "@/credits/schemas";
import { POSTGRES_INTEGER_MAX, priceSchema } from "./packages";

/**
 * What happens to a period's unspent credits when the period ends.
 * - `none`: they expire with the period.
 * - `capped`: up to `cap` of them carry into the next period once, as a new lot that expires at the end of
 *   that next period (carried credits are never carried again, so a subscriber cannot bank a year).
 * - `unlimited`: period credits never expire.
 */
export const rolloverSchema = z.discriminatedUnion("policy", [
  z.object({ policy: z.literal("none") }),
  z.object({
    policy: z.literal("capped"),
    cap: z
      .number()
      .int("must be a whole number of credits")
      .positive("must be positive")
      .max(MAX_CREDITS_PER_OPERATION, `must be at most ${MAX_CREDITS_PER_OPERATION} credits`),
  }),
  z.object({ policy: z.literal("unlimited") }),
]);
export type Rollover = z.infer<typeof rolloverSchema>;

export const planIntervals = ["month", "year"] as const;
export type PlanInterval = (typeof planIntervals)[number];

export const planSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/),
  /** Message key of the display name: `plans.<id>.name` in messages/*.json. */
  name: z.string(),
  /** Message key of the description: `plans.<id>.description`. */
  description: z.string(),
  /** How often the customer pays. Credits are granted every month whatever the interval. */
  interval: z.enum(planIntervals),
  /** What one interval costs, in minor units; null for the free plan (no card, nothing to pay). */
  price: priceSchema.nullable(),
  /**
   * Credits granted for each monthly period. A yearly plan grants this every month, never twelve months
   * at once: a customer who cancels or refunds in month two must not keep a year of credits.
   */
  creditsPerMonth: z
    .number()
    .int("must be a whole number of credits")
    .positive("must be positive")
    .max(MAX_CREDITS_PER_OPERATION, `must be at most ${MAX_CREDITS_PER_OPERATION} credits per month`),
  rollover: rolloverSchema,
  /**
   * An optional trial: its length in days and the credits it grants (a lot that expires when the trial
   * ends), once per person ever, whatever plan they had it on. The card is collected at subscribe time;
   * the first full-price invoice is charged when the trial ends (start-subscription.ts, grant-trial-credits.ts).
   */
  trial: z
    .object({
      days: z.number().int().min(1).max(730),
      credits: z.number().int().positive().max(MAX_CREDITS_PER_OPERATION),
    })
    .optional(),
  /** Disabled plans stay in the catalog (subscriptions refer to them) but cannot be subscribed to. */
  disabled: z.boolean().default(false),
});
export type Plan = z.infer<typeof planSchema>;

/**
 * The plans on sale. As with packages, the server alone decides prices and credits: a subscription names
 * a plan id, and everything granted for it is read from here.
 */
export const PLANS: readonly Plan[] = parsePlans([
  {
    id: "free",
    name: "plans.free.name",
    description: "plans.free.description",
    interval: "month",
    price: null,
    creditsPerMonth: 50,
    rollover: { policy: "none" },
  },
  {
    id: "pro-monthly",
    name: "plans.pro-monthly.name",
    description: "plans.pro-monthly.description",
    interval: "month",
    price: { amount: 1900, currency: "usd" },
    creditsPerMonth: 1000,
    rollover: { policy: "capped", cap: 1000 },
  },
  {
    id: "pro-yearly",
    name: "plans.pro-yearly.name",
    description: "plans.pro-yearly.description",
    interval: "year",
    price: { amount: 19000, currency: "usd" },
    creditsPerMonth: 1000,
    rollover: { policy: "capped", cap: 1000 },
  },
  {
    id: "max-monthly",
    name: "plans.max-monthly.name",
    description: "plans.max-monthly.description",
    interval: "month",
    price: { amount: 4900, currency: "usd" },
    creditsPerMonth: 5000,
    rollover: { policy: "capped", cap: 5000 },
    trial: { days: 7, credits: 500 },
  },
]);

/** Months in one billing interval: what a period of the plan spans. */
export function intervalMonths(plan: Pick<Plan, "interval">): 1 | 12 {
  return plan.interval === "year" ? 12 : 1;
}

/**
 * Validates a plan catalog, throwing one readable error that names the plan and what is wrong, so a bad
 * catalog stops the app at start instead of failing a grant after a customer paid. Beyond each plan's own
 * schema:
 * - ids are unique (webhooks map a price back to one plan);
 * - exactly one plan has no price: the free plan, and it bills monthly;
 * - a year of a plan's credits fits the purchase's `integer` column (a yearly invoice records them);
 * - a rollover cap is at most a year of the plan's credits (a larger cap would never be reached and
 *   suggests a typo);
 * - only a paid plan has a trial.
 */
export function parsePlans(input: unknown[]): Plan[] {
  const parsed = z.array(planSchema).safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const [index, ...path] = issue.path;
      const id = (input[index as number] as { id?: unknown } | undefined)?.id;
      return `plan ${JSON.stringify(id ?? index)} ${path.join(".")}: ${issue.message}`;
    });
    throw invalidPlans(problems);
  }
  const plans = parsed.data;
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const plan of plans) {
    const named = `plan ${JSON.stringify(plan.id)}`;
    if (seen.has(plan.id)) problems.push(`${named} id: appears twice`);
    seen.add(plan.id);
    if (plan.name !== `plans.${plan.id}.name`)
      problems.push(`${named} name: must be "plans.${plan.id}.name"`);
    if (plan.description !== `plans.${plan.id}.description`)
      problems.push(`${named} description: must be "plans.${plan.id}.description"`);
    if (plan.creditsPerMonth * 12 > POSTGRES_INTEGER_MAX)
      problems.push(
        `${named} creditsPerMonth: a year of it must be at most ${POSTGRES_INTEGER_MAX} credits (the purchase's integer column)`,
      );
    if (plan.rollover.policy === "capped" && plan.rollover.cap > plan.creditsPerMonth * 12)
      problems.push(
        `${named} rollover.cap: must be at most a year of credits (${plan.creditsPerMonth * 12})`,
      );
    if (plan.price === null && plan.interval !== "month")
      problems.push(`${named} interval: the free plan grants monthly`);
    if (plan.price === null && plan.trial)
      problems.push(`${named} trial: the free plan has nothing to try (a trial precedes a paid plan)`);
  }
  const free = plans.filter((plan) => plan.price === null);
  if (free.length !== 1)
    problems.push(`exactly one plan must have no price (the free plan), found ${free.length}`);
  if (problems.length > 0) throw invalidPlans(problems);
  return plans;
}

function invalidPlans(problems: string[]): Error {
  return new Error(`Invalid plans (src/catalog/plans.ts): ${problems.join("; ")}`);
}

/**
 * English names by plan id, for the server's own text (ledger descriptions, the JSON API's `name`); pages
 * show the translated `plans.<id>.name` instead.
 */
export const PLAN_NAMES: Record<string, string> = {
  free: "Free",
  "pro-monthly": "Pro",
  "pro-yearly": "Pro (yearly)",
  "max-monthly": "Max",
};

/** The plan's English name, or its id when it has none. */
export function planName(plan: Pick<Plan, "id">): string {
  return PLAN_NAMES[plan.id] ?? plan.id;
}

/** The plans that can be chosen (not disabled), the free plan included, in catalog order. */
export function listPlansOnSale(plans: readonly Plan[] = PLANS): Plan[] {
  return plans.filter((plan) => !plan.disabled);
}

/** Any plan by id, disabled or not: what an existing subscription or a webhook refers to. */
export function findPlan(planId: string, plans: readonly Plan[] = PLANS): Plan | undefined {
  return plans.find((plan) => plan.id === planId);
}

/** A plan a customer can subscribe to now: on sale and with a price (the free plan needs no subscription). */
export function findPaidPlanOnSale(planId: string, plans: readonly Plan[] = PLANS): Plan | undefined {
  return plans.find((plan) => plan.id === planId && !plan.disabled && plan.price !== null);
}

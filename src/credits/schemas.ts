import { z } from "zod";
import { idempotencyKeySchema } from "./idempotency-keys";

export { idempotencyKeySchema };

/** Credits move in whole units. The upper bound keeps every sum far inside 2^53. */
export const MAX_CREDITS_PER_OPERATION = 1_000_000_000;

/** Credits expire at most a hundred years after their grant: a bound that keeps every date representable. */
export const MAX_EXPIRE_DAYS = 36_500;

/**
 * Whether PostgreSQL can store this text exactly as given. `text` and `jsonb` refuse U+0000 (SQLSTATE
 * 22021 / 22P05), so a NUL would fail the same way on every retry; a lone UTF-16 surrogate (JSON's
 * `"\ud800"` escape makes one) has no UTF-8 form, and the drivers would silently store U+FFFD instead.
 * Both are refused as invalid input rather than altered, so what is stored is what the caller sent and
 * a retry's fingerprint matches the first attempt's. Every text that enters the system is checked with
 * this rule: request bodies at any depth (keys too), query strings, path ids, server actions, the CLI.
 */
export function isStorableText(value: string): boolean {
  return !value.includes("\u0000") && !LONE_SURROGATE.test(value);
}
// With the `u` flag a valid surrogate pair is one code point outside this range; only lone halves match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const UNSTORABLE_TEXT_MESSAGE = "must not contain U+0000 (NUL) or an unpaired UTF-16 surrogate";

/** The shared text rule: start every text field's schema from this. */
export const storableTextSchema = z.string().refine(isStorableText, UNSTORABLE_TEXT_MESSAGE);

/**
 * The path of the first string in a JSON-like value (object keys included, at any depth) that
 * PostgreSQL cannot store, or null when every string is storable. Linear in the size of the value:
 * iterative, so a deeply nested body cannot exhaust the stack, and each visited value points at its
 * parent instead of carrying a copy of its path, so a body nested n deep costs O(n), not O(n²) (a 128 kB
 * body of nested arrays took 40 s of CPU with copied paths). The path is built only for the value found.
 */
export function findUnstorableText(value: unknown): (string | number)[] | null {
  type Visit = { value: unknown; segment: string | number | null; parent: Visit | null };
  const pathOf = (visit: Visit, last?: string): (string | number)[] => {
    const path: (string | number)[] = last === undefined ? [] : [last];
    for (let at: Visit | null = visit; at && at.segment !== null; at = at.parent) path.push(at.segment);
    return path.reverse();
  };
  const pending: Visit[] = [{ value, segment: null, parent: null }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const current = next.value;
    if (typeof current === "string") {
      if (!isStorableText(current)) return pathOf(next);
    } else if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++)
        pending.push({ value: current[index], segment: index, parent: next });
    } else if (current !== null && typeof current === "object" && !(current instanceof Date)) {
      for (const [key, item] of Object.entries(current)) {
        if (!isStorableText(key)) return pathOf(next, key);
        pending.push({ value: item, segment: key, parent: next });
      }
    }
  }
  return null;
}

/** Free-form JSON (metadata) whose every key and string value PostgreSQL can store. */
export const storableJsonRecordSchema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const path = findUnstorableText(value);
  if (path)
    ctx.addIssue({ code: "custom", message: UNSTORABLE_TEXT_MESSAGE, path: path.map(printablePathSegment) });
});

/** A path segment fit for an error message: an unstorable key is shown escaped, never echoed raw. */
export function printablePathSegment(segment: string | number | symbol): string | number {
  if (typeof segment === "number") return segment;
  const text = String(segment);
  // JSON.stringify escapes U+0000 and lone surrogates as \u0000 / \ud800.
  return isStorableText(text) ? text : JSON.stringify(text).slice(1, -1);
}

export const creditAmountSchema = z.number().int().positive().max(MAX_CREDITS_PER_OPERATION);
export const userIdSchema = storableTextSchema.min(1).max(200);
export const descriptionSchema = storableTextSchema.trim().min(1).max(500);

export const creditEntryTypes = [
  "purchase",
  "grant",
  "signup_gift",
  /** A subscription period's credits (src/payment/subscriptions/grant-credit-period.ts). */
  "subscription",
  /** A period's unspent credits carried into the next period (src/payment/subscriptions/roll-into-period.ts). */
  "rollover",
  /** A Free plan period's credits (src/payment/subscriptions/grant-free-plan-credits.ts). */
  "free_plan",
  "adjustment",
  "consume",
  "expire",
  "refund",
  "dispute",
  "dispute_reversal",
  "debt_repayment",
] as const;
export type CreditEntryType = (typeof creditEntryTypes)[number];

export const grantTypes = [
  "purchase",
  "grant",
  "signup_gift",
  "adjustment",
  "dispute_reversal",
  "subscription",
  "rollover",
  "free_plan",
] as const;
export type GrantType = (typeof grantTypes)[number];

export const lotCategories = ["paid", "promotional"] as const;
export type LotCategory = (typeof lotCategories)[number];

export const addCreditsInputSchema = z
  .object({
    userId: userIdSchema,
    amount: creditAmountSchema,
    type: z.enum(grantTypes),
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    expireDays: z.number().int().positive().max(MAX_EXPIRE_DAYS).optional(),
    expiresAt: z.date().optional(),
    category: z.enum(lotCategories).optional(),
    reference: storableTextSchema.max(255).optional(),
    purchaseId: z.uuid().optional(),
    metadata: storableJsonRecordSchema.optional(),
  })
  .strict()
  .refine((input) => !(input.expireDays && input.expiresAt), "Give expireDays or expiresAt, not both");
export type AddCreditsInput = z.input<typeof addCreditsInputSchema>;

export const consumeCreditsInputSchema = z
  .object({
    /** `adjustment` is an operator's correction; it spends like any other debit. */
    type: z.enum(["consume", "adjustment"]).default("consume"),
    userId: userIdSchema,
    amount: creditAmountSchema,
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    metadata: storableJsonRecordSchema.optional(),
  })
  .strict();
export type ConsumeCreditsInput = z.input<typeof consumeCreditsInputSchema>;

export const listTransactionsInputSchema = z
  .object({
    userId: userIdSchema,
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional(),
  })
  .strict();
export type ListTransactionsInput = z.input<typeof listTransactionsInputSchema>;

/** Holds last at most a day by default limits; a forgotten hold must not lock credits away for long. */
export const DEFAULT_HOLD_TTL_SECONDS = 15 * 60;
export const MAX_HOLD_TTL_SECONDS = 7 * 24 * 60 * 60;

export const createHoldInputSchema = z
  .object({
    userId: userIdSchema,
    amount: creditAmountSchema,
    description: descriptionSchema,
    idempotencyKey: idempotencyKeySchema,
    ttlSeconds: z.number().int().min(1).max(MAX_HOLD_TTL_SECONDS).default(DEFAULT_HOLD_TTL_SECONDS),
    /**
     * What the reserved credits pay for (any JSON: a prompt, a request body), when the key alone does not
     * say it. It joins the hold's fingerprint, so the same key sent for other work is refused (409
     * idempotency_conflict) instead of replaying a hold, and a charge, that paid for something else.
     */
    work: z.unknown().optional(),
  })
  .strict();
export type CreateHoldInput = z.input<typeof createHoldInputSchema>;

export const captureHoldInputSchema = z
  .object({
    holdId: z.uuid(),
    /** Defaults to the whole reserved amount. Zero captures nothing and returns everything. */
    amount: z.number().int().min(0).max(MAX_CREDITS_PER_OPERATION).optional(),
    description: descriptionSchema.optional(),
  })
  .strict();
export type CaptureHoldInput = z.input<typeof captureHoldInputSchema>;

/*
 * Usage analytics (src/credits/get-credit-usage.ts): the ranges and the answer's shape, here so the browser
 * (src/components/credits) shares them without importing the read itself.
 */

/** The ranges the usage view offers, in days ending today (the reader's today). */
export const USAGE_RANGES = [7, 30, 90] as const;
export type UsageRange = (typeof USAGE_RANGES)[number];

export type UsageDay = {
  /** The reader's calendar day, `YYYY-MM-DD`. */
  date: string;
  /** Credits spent that day (consume entries: spends and hold captures). */
  spent: number;
  /** The day's spend per series of `features`, in the same order. */
  spentByFeature: number[];
  /** Credits added that day (every entry with a positive amount: purchases, grants, plan credits…). */
  granted: number;
  /** Credits that expired that day (expire entries). */
  expired: number;
  /** The balance at the end of the day (the running total of the ledger, held credits included). */
  balance: number;
};

export type CreditUsage = {
  timeZone: string;
  rangeDays: UsageRange;
  /** The first and last day of the range (`YYYY-MM-DD`, the reader's days); `to` is today. */
  from: string;
  to: string;
  /**
   * The spend chart's series, largest first: a feature name, or null for the rest (spends with no feature,
   * and features past the MAX_FEATURE_SERIES - 1 largest).
   */
  features: { feature: string | null; spent: number }[];
  /** One entry per day of the range, oldest first, days without entries included. */
  days: UsageDay[];
  totals: { spent: number; granted: number; expired: number };
  /** Credits that expire in each of the next EXPIRING_WEEKS weeks (week 0 starts today). */
  expiring: { start: string; end: string; credits: number }[];
  forecast: UsageForecast;
};

export type UsageForecast = {
  windowDays: number;
  /** Credits spent in the last FORECAST_WINDOW_DAYS × 24 hours. */
  spentInWindow: number;
  /** Credits available now (unexpired credits left in lots: the balance less held credits). */
  available: number;
  /**
   * Whole days until the available credits run out at that pace, counting expiry (credits that expire
   * before the pace reaches them do not last); null when nothing was spent in the window.
   */
  daysLeft: number | null;
  /** The reader's day the credits run out on; null when nothing was spent or past the horizon. */
  runsOutOn: string | null;
  /** True when the credits last more than FORECAST_HORIZON_DAYS at that pace. */
  beyondHorizon: boolean;
  /** Credits that expire before that pace would spend them (whole credits, rounded down). */
  expiresUnused: number;
};

/** A low-balance threshold: a number of credits, or a percentage (1-100) of the plan's monthly credits. */
export type LowBalanceThreshold = { credits: number } | { percent: number };

/** The account's alert setting and state, as the credits page shows it. */
export type LowBalanceAlert = {
  threshold: LowBalanceThreshold | null;
  /** The threshold in credits now (a percentage resolved against the plan in force); null when none. */
  effectiveThreshold: number | null;
  /** What can be spent now (balance - held), in credits. */
  available: number;
  /**
   * True from the change that took the available balance below the threshold until one takes it back to
   * or above it: what the banner shows. Setting a threshold the balance is already under does not make it
   * true (an alert marks a crossing, not a state), and is never true while the balance is at or above it.
   */
  low: boolean;
  /** When that crossing happened (ISO 8601), while `low`. */
  crossedAt: string | null;
};

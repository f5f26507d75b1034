import type { Transaction } from "./credits-api";

/** The entry fields that word a subscription's entry: its plan, its period and, when paid late, its end. */
export type PlanPeriodItem = Pick<
  Transaction,
  "type" | "planId" | "periodStart" | "periodEnd" | "periodKind" | "usableUntil" | "lateReason"
>;

/**
 * Entries that name a plan and a period: a period's grant, a rollover into a period, a Free plan period's
 * credits, and the expiry of any of them (its message is `expireSubscription`).
 */
const PLAN_PERIOD_MESSAGES: Record<string, string> = {
  subscription: "transactionDescriptions.subscription",
  rollover: "transactionDescriptions.rollover",
  free_plan: "transactionDescriptions.free_plan",
  expire: "transactionDescriptions.expireSubscription",
};

/**
 * "Pro credits for Nov 30, 2026 – Dec 30, 2026" for a subscription's entry, or null for an entry that
 * names no plan and period. Pure, so the words can be checked against the real message files without a
 * page: `t` translates a message key with values, `day` formats an instant as the reader's day, `plan`
 * is the plan's name in the reader's language (all three from next-intl in the pages).
 *
 * A trial's grant says it is one (its credits end with the trial). A period's grant paid after the period
 * ended (`usableUntil`: a renewal paid late, or a yearly slot whose month had passed when its year was paid)
 * says so and until when its credits are usable, which is not the period's end: the reader would otherwise
 * see credits "for" a month already over and wonder why they are still there, or when they go. A yearly
 * slot paid in time but issued after its month ended (`lateReason` `issued_late`: the credits job was
 * down) says "issued late" instead: the customer paid on time and must not read that they did not.
 */
export function planPeriodText(
  item: PlanPeriodItem,
  words: {
    t: (key: string, values: Record<string, string>) => string;
    day: (date: Date) => string;
    plan: (planId: string) => string;
  },
): string | null {
  const key =
    item.type === "subscription" && item.periodKind === "trial"
      ? "transactionDescriptions.subscriptionTrial"
      : item.type === "subscription" && item.usableUntil
        ? item.lateReason === "issued_late"
          ? "transactionDescriptions.subscriptionIssuedLate"
          : "transactionDescriptions.subscriptionPaidLate"
        : PLAN_PERIOD_MESSAGES[item.type];
  if (!key || !item.planId || !item.periodStart || !item.periodEnd) return null;
  return words.t(key, {
    plan: words.plan(item.planId),
    start: words.day(new Date(item.periodStart)),
    end: words.day(new Date(item.periodEnd)),
    ...(item.usableUntil ? { until: words.day(new Date(item.usableUntil)) } : {}),
  });
}

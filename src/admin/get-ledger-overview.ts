import { sql } from "drizzle-orm";
import { z } from "zod";
import { InvalidInputError } from "@/credits/errors";
import type { DatabaseOrTransaction } from "@/db/types";

/** The ranges the console offers; any other span is asked for with `from` and `to`. */
export const OVERVIEW_RANGES = [7, 30, 90] as const;
/** The longest span one answer covers, so a page view stays bounded (about 5 years of days). */
export const MAX_OVERVIEW_DAYS = 1_830;

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date as YYYY-MM-DD");

/** `days` (7, 30 or 90, ending today in UTC) or `from` and `to` (UTC dates, both included). */
export const ledgerOverviewInputSchema = z.union([
  z.object({ days: z.coerce.number().pipe(z.union(OVERVIEW_RANGES.map((n) => z.literal(n)))) }).strict(),
  z.object({ from: isoDay, to: isoDay }).strict(),
]);
export type LedgerOverviewInput = z.infer<typeof ledgerOverviewInputSchema>;

/** Where credits that came in are counted, by entry type: the vocabulary of the ledger's `type` column. */
const SOLD_TYPES = new Set(["purchase"]);
const GRANT_KIND: Record<string, GrantKind> = {
  signup_gift: "gift",
  grant: "grant",
  adjustment: "grant",
  subscription: "plan",
  free_plan: "plan",
  rollover: "plan",
};
const CLAWBACK_TYPES = new Set(["refund", "dispute"]);
export type GrantKind = "gift" | "grant" | "plan" | "other";

/** One day's movements in credits (all non-negative). */
export type OverviewDay = {
  day: string;
  sold: number;
  granted: number;
  consumed: number;
  expired: number;
  clawedBack: number;
};

type FlowRow = {
  day: string;
  entry_type: string;
  credits_in: string;
  credits_out: string;
  debt_change: string;
  entries: string;
};

/**
 * How credits moved, by entry type. The rules (also in the README, Operators → Overview):
 * - sold: `purchase` entries (credits bought, packages and paid invoices of one-off purchases);
 * - granted, by kind: `signup_gift` (gift), `grant` and a positive `adjustment` (admin or API grant),
 *   `subscription`, `free_plan`, `rollover` (plan period credits), anything else positive (other);
 *   `dispute_reversal` (credits given back when a dispute is won) is `reinstated`, not granted;
 * - expired: `expire` entries;
 * - clawed back: `refund` and `dispute` entries: the credits taken plus the debt they left (credits
 *   already spent that the customer now owes);
 * - consumed: every other debit (spends, captures, negative adjustments);
 * - debt repaid (informational, in no flow): `debt_repayment` entries. The debt was counted once already,
 *   in clawed back, when it arose; repaying it moves credits from the balance to cancel as much debt, so
 *   the liability (balance − debt) does not change. Counting it as consumed too took it out twice.
 * So every entry counts `credits in − (credits out + debt change)` once, and over any period
 * sold + granted + reinstated − consumed − expired − clawed back = the change of (outstanding − debt).
 */
export function classifyFlows(
  rows: readonly { entryType: string; creditsIn: number; creditsOut: number; debtChange: number }[],
) {
  const totals = {
    sold: 0,
    granted: { gift: 0, grant: 0, plan: 0, other: 0 } as Record<GrantKind, number>,
    reinstated: 0,
    consumed: 0,
    expired: 0,
    clawedBack: 0,
    debtRepaid: 0,
  };
  for (const row of rows) {
    // What the entry takes from the liability: the credits it takes plus the debt it adds (a debt
    // repayment takes credits and cancels as much debt: nothing).
    const out = row.creditsOut + row.debtChange;
    if (row.entryType === "debt_repayment") totals.debtRepaid += -row.debtChange;
    if (row.entryType === "expire") totals.expired += out;
    else if (CLAWBACK_TYPES.has(row.entryType)) totals.clawedBack += out;
    else totals.consumed += out;
    if (row.creditsIn === 0) continue;
    if (SOLD_TYPES.has(row.entryType)) totals.sold += row.creditsIn;
    else if (row.entryType === "dispute_reversal") totals.reinstated += row.creditsIn;
    else totals.granted[GRANT_KIND[row.entryType] ?? "other"] += row.creditsIn;
  }
  return totals;
}

async function rows<T>(db: DatabaseOrTransaction, query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/**
 * The operators' overview of the whole ledger over a span of UTC days: credits sold, granted (by kind),
 * consumed, expired and clawed back, day by day and in total; revenue by package and by plan; the
 * outstanding liability now; the subscriptions live now.
 *
 * Reads only the aggregates the ledger's triggers keep (src/credits/sql/ledger-aggregates.sql): their sums
 * plus the deltas written since the last compaction (the sweep job's, every minute), never the entries. The
 * cost depends on the number of days, entry types and packages and on the writes of the last minute, not on
 * the ledger's size.
 *
 * Units: credits (integers); money in minor units of its own currency, one row per currency (currencies are
 * never added together). Days are UTC dates `YYYY-MM-DD`; a purchase counts on the day it was created, with
 * its refunds. Outstanding is the sum of the account balances: credits left in lots, split into paid and
 * promotional by the lot's category, plus credits reserved by open holds (`held`, which leave the lots when
 * reserved); `debt` is what customers owe back, shown apart. Throws InvalidInputError (400) for a bad
 * input, `from` after `to`, or a span over MAX_OVERVIEW_DAYS.
 */
export async function getLedgerOverview(db: DatabaseOrTransaction, rawInput: unknown) {
  const parsed = ledgerOverviewInputSchema.safeParse(rawInput);
  if (!parsed.success) throw new InvalidInputError("Choose 7, 30 or 90 days, or a from and to date.", {});
  const input = parsed.data;
  // Today is the database's (time is the database's everywhere in the ledger), in UTC like the aggregates.
  const [span] = await rows<{ from: string; to: string; days: number }>(
    db,
    "days" in input
      ? sql`SELECT (d - ${input.days - 1}::int)::text AS from, d::text AS to, ${input.days}::int AS days
            FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS d) t`
      : sql`SELECT ${input.from}::date::text AS from, ${input.to}::date::text AS to,
                   (${input.to}::date - ${input.from}::date + 1) AS days`,
  );
  if (!span) throw new Error("the database answered no row");
  if (span.days < 1 || span.days > MAX_OVERVIEW_DAYS)
    throw new InvalidInputError(`The range must cover 1 to ${MAX_OVERVIEW_DAYS} days, from before to.`, {
      from: span.from,
      to: span.to,
    });

  const [flows, revenue, outstanding, accounts, subscriptions] = await Promise.all([
    rows<FlowRow>(
      db,
      sql`SELECT day::text AS day, entry_type, sum(credits_in) AS credits_in, sum(credits_out) AS credits_out,
                 sum(debt_change) AS debt_change, sum(entries) AS entries
          FROM (SELECT day, entry_type, credits_in, credits_out, debt_change, entries FROM credit_daily_total
                WHERE day BETWEEN ${span.from}::date AND ${span.to}::date
                UNION ALL
                SELECT day, entry_type, credits_in, credits_out, debt_change, entries FROM credit_daily_total_delta
                WHERE day BETWEEN ${span.from}::date AND ${span.to}::date) u
          GROUP BY day, entry_type ORDER BY day, entry_type`,
    ),
    rows<{
      kind: string;
      package_id: string;
      currency: string;
      purchases: string;
      amount: string;
      refunded: string;
    }>(
      db,
      sql`SELECT kind, package_id, currency, sum(purchases) AS purchases, sum(amount) AS amount,
                 sum(refunded) AS refunded
          FROM (SELECT kind, package_id, currency, purchases, amount, refunded FROM purchase_daily_revenue
                WHERE day BETWEEN ${span.from}::date AND ${span.to}::date
                UNION ALL
                SELECT kind, package_id, currency, purchases, amount, refunded FROM purchase_daily_revenue_delta
                WHERE day BETWEEN ${span.from}::date AND ${span.to}::date) u
          GROUP BY kind, package_id, currency HAVING sum(purchases) <> 0
          ORDER BY currency, sum(amount) DESC, package_id`,
    ),
    rows<{ category: string; source: string; remaining: string }>(
      db,
      sql`SELECT category, source, sum(remaining) AS remaining
          FROM (SELECT category, source, remaining FROM credit_outstanding
                UNION ALL SELECT category, source, remaining FROM credit_outstanding_delta) u
          GROUP BY category, source HAVING sum(remaining) <> 0 ORDER BY category, source`,
    ),
    rows<{ balance: string | null; held: string | null; debt: string | null }>(
      db,
      sql`SELECT sum(balance) AS balance, sum(held) AS held, sum(debt) AS debt
          FROM (SELECT balance, held, debt FROM credit_account_total
                UNION ALL SELECT balance, held, debt FROM credit_account_total_delta) u`,
    ),
    // The subscription table has one row per subscription (not per entry); live_idx serves the filter.
    rows<{ status: string; n: string }>(
      db,
      sql`SELECT status, count(*) AS n FROM subscription
          WHERE status IN ('trialing', 'active', 'past_due', 'unpaid', 'paused') GROUP BY status`,
    ),
  ]);

  const typed = flows.map((row) => ({
    day: row.day,
    entryType: row.entry_type,
    creditsIn: Number(row.credits_in),
    creditsOut: Number(row.credits_out),
    debtChange: Number(row.debt_change),
    entries: Number(row.entries),
  }));
  const byDay = new Map<string, typeof typed>();
  for (const row of typed) byDay.set(row.day, [...(byDay.get(row.day) ?? []), row]);
  const daily: OverviewDay[] = [];
  for (let i = 0; i < span.days; i++) {
    const day = addDays(span.from, i);
    const t = classifyFlows(byDay.get(day) ?? []);
    const granted = t.granted.gift + t.granted.grant + t.granted.plan + t.granted.other;
    daily.push({
      day,
      sold: t.sold,
      granted,
      consumed: t.consumed,
      expired: t.expired,
      clawedBack: t.clawedBack,
    });
  }
  const byType = new Map<
    string,
    { entryType: string; creditsIn: number; creditsOut: number; debtChange: number; entries: number }
  >();
  for (const row of typed) {
    const sum = byType.get(row.entryType) ?? {
      entryType: row.entryType,
      creditsIn: 0,
      creditsOut: 0,
      debtChange: 0,
      entries: 0,
    };
    sum.creditsIn += row.creditsIn;
    sum.creditsOut += row.creditsOut;
    sum.debtChange += row.debtChange;
    sum.entries += row.entries;
    byType.set(row.entryType, sum);
  }

  const lotsBy = outstanding.map((row) => ({
    category: row.category,
    source: row.source,
    credits: Number(row.remaining),
  }));
  const inLots = (category: string) =>
    lotsBy.filter((row) => row.category === category).reduce((n, row) => n + row.credits, 0);
  const account = accounts[0];
  const revenueRows = revenue.map((row) => ({
    kind: row.kind,
    id: row.package_id,
    currency: row.currency,
    purchases: Number(row.purchases),
    amount: Number(row.amount),
    refunded: Number(row.refunded),
    net: Number(row.amount) - Number(row.refunded),
  }));
  const currencyTotals = new Map<
    string,
    { currency: string; amount: number; refunded: number; net: number }
  >();
  for (const row of revenueRows) {
    const sum = currencyTotals.get(row.currency) ?? {
      currency: row.currency,
      amount: 0,
      refunded: 0,
      net: 0,
    };
    sum.amount += row.amount;
    sum.refunded += row.refunded;
    sum.net += row.net;
    currencyTotals.set(row.currency, sum);
  }
  const live = Object.fromEntries(subscriptions.map((row) => [row.status, Number(row.n)]));

  return {
    from: span.from,
    to: span.to,
    days: span.days,
    totals: classifyFlows(typed),
    byType: [...byType.values()],
    daily,
    outstanding: {
      paid: inLots("paid"),
      promotional: inLots("promotional"),
      held: Number(account?.held ?? 0),
      total: Number(account?.balance ?? 0),
      debt: Number(account?.debt ?? 0),
      bySource: lotsBy,
    },
    revenue: {
      byPackage: revenueRows.filter((row) => row.kind === "package"),
      byPlan: revenueRows.filter((row) => row.kind === "subscription_invoice"),
      byCurrency: [...currencyTotals.values()],
    },
    subscriptions: {
      active: (live.active ?? 0) + (live.trialing ?? 0),
      byStatus: live as Record<string, number>,
    },
  };
}

export type LedgerOverview = Awaited<ReturnType<typeof getLedgerOverview>>;

function addDays(day: string, n: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

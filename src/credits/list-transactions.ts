import { and, desc, eq, getTableColumns, lt } from "drizzle-orm";
import { creditEntry } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";
import { entryFeature, type HistoryFilter, historyConditions, historyFilterSchema } from "./history-filter";
import { parseInput } from "./parse-input";
import { type ListTransactionsInput, listTransactionsInputSchema } from "./schemas";

export type CreditTransaction = {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  description: string;
  reference: string | null;
  /** The package a purchase entry was for, so pages can name it in the reader's language. */
  packageId: string | null;
  /**
   * For a subscription's entries (a period's grant, a rollover, their expiry, a refund or dispute of a plan
   * invoice): the plan and the period (ISO times), so pages can say "Pro credits for Nov 30 – Dec 30" in the
   * reader's language and time zone. Null for other entries.
   */
  planId: string | null;
  periodStart: string | null;
  periodEnd: string | null;
  /** What a subscription grant was for: `trial` for a trial's credits (else `period`, `slot`, `proration`…). */
  periodKind: string | null;
  /**
   * For a period's grant made after the period ended: when its credits stop being usable (ISO time), so
   * pages can say "usable until …". Null for other entries.
   */
  usableUntil: string | null;
  /**
   * Why such a grant came after its period (set with `usableUntil`): `paid_late` when its invoice was paid
   * after the period ended (a renewal paid late, a yearly slot whose month had passed when its year was
   * paid), `issued_late` when a yearly slot paid in time was issued by the `subscription-credits` job
   * only after its month ended. Null for other entries.
   */
  lateReason: "paid_late" | "issued_late" | null;
  /** The feature a spend paid for (see entryFeature in history-filter.ts); null for other entries. */
  feature: string | null;
  createdAt: string;
};

export type TransactionPage = { items: CreditTransaction[]; nextCursor: string | null };

const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** Why a subscription grant came after its period, from its metadata (grantRecordedPeriod); else null. */
function lateReasonOf(row: {
  type: string;
  metadata: Record<string, unknown> | null;
}): CreditTransaction["lateReason"] {
  if (row.type !== "subscription") return null;
  if (row.metadata?.issuedLate === true) return "issued_late";
  if (row.metadata?.paidLate === true) return "paid_late";
  return null;
}

/**
 * A user's ledger entries, newest first, `limit` (1-100, default 20) at a time, narrowed by `filter`
 * (type, feature, date range, description search: see historyFilterSchema). The cursor is the id of the
 * last entry seen (keyset pagination): the next page is the entries below it that match the same filter,
 * so pages neither skip nor repeat entries while new ones arrive, with or without a filter. A cursor from
 * one filter used with another is still a valid position (entries below that id), never an error.
 * Throws InvalidInputError (400) for a bad limit, cursor or filter.
 */
export async function listTransactions(
  db: DatabaseOrTransaction,
  rawInput: ListTransactionsInput & { filter?: HistoryFilter | undefined },
): Promise<TransactionPage> {
  const { filter: rawFilter, ...rest } = rawInput;
  const input = parseInput(listTransactionsInputSchema, rest);
  const filter = parseInput(historyFilterSchema, rawFilter ?? {});
  const rows = await db
    .select({ ...getTableColumns(creditEntry), feature: entryFeature })
    .from(creditEntry)
    .where(
      and(
        eq(creditEntry.userId, input.userId),
        input.cursor ? lt(creditEntry.id, Number(input.cursor)) : undefined,
        historyConditions(filter),
      ),
    )
    // Ordered like the (user_id, id) index, so the plan walks that index for any user, however large
    // their history, instead of the primary key backwards.
    .orderBy(desc(creditEntry.userId), desc(creditEntry.id))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      id: String(row.id),
      type: row.type,
      amount: row.amount,
      balanceAfter: row.balanceAfter,
      description: row.description,
      reference: row.reference,
      packageId: text(row.metadata?.packageId),
      planId: text(row.metadata?.planId),
      periodStart: text(row.metadata?.periodStart),
      periodEnd: text(row.metadata?.periodEnd),
      periodKind: text(row.metadata?.kind),
      usableUntil: lateReasonOf(row) ? text(row.metadata?.lotExpiresAt) : null,
      lateReason: lateReasonOf(row),
      feature: row.feature,
      createdAt: row.createdAt.toISOString(),
    })),
    nextCursor: rows.length > input.limit && last ? String(last.id) : null,
  };
}

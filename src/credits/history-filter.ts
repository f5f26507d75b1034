import { and, eq, gte, lt, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { creditEntry } from "@/db/schema";
import { creditEntryTypes } from "./schemas";

/**
 * What a history view is narrowed to: the same filter serves the paged list (listTransactions), the CSV
 * export (exportTransactionsCsv) and every route over them, so an export holds exactly the entries the
 * filtered list shows.
 *
 * - `type`: one ledger entry type (creditEntryTypes).
 * - `feature`: the feature a spend paid for (see entryFeature), matched exactly.
 * - `from` (inclusive) and `to` (exclusive): ISO 8601 instants on the entry's `created_at`. The browser turns
 *   the reader's calendar days into instants in the reader's time zone, so a day means the reader's day.
 * - `search`: text found anywhere in the description, case-insensitively. `%`, `_` and `\` in it are
 *   matched literally (escaped below), so a search for "50%" finds "50%" and not every description.
 */
export const historyFilterSchema = z
  .object({
    type: z.enum(creditEntryTypes).optional(),
    feature: z.string().trim().min(1).max(100).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    search: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .refine((f) => !(f.from && f.to) || Date.parse(f.from) < Date.parse(f.to), {
    message: "from must be before to",
    path: ["to"],
  });
export type HistoryFilter = z.input<typeof historyFilterSchema>;

/**
 * The feature an entry paid for: `metadata.feature` when the spend carries one (service-API and library
 * spends pass `metadata: {feature: "…"}`), otherwise, for the capture of a metered feature's hold
 * (src/features/run-metered-feature.ts), the feature named in that hold's idempotency key
 * (`creditkit/feature:<feature>:<request id>`): creditkit writes both keys itself (callers' keys cannot
 * start with `creditkit/`, src/credits/idempotency-keys.ts), so neither can be forged by a caller. The hold
 * is found by its primary key (a capture's `reference` is its hold's id). Null for everything else.
 */
export const entryFeature = sql<string | null>`coalesce(
  ${creditEntry.metadata}->>'feature',
  CASE WHEN ${creditEntry.idempotencyKey} LIKE 'creditkit/hold-capture:%' THEN
    (SELECT substring(h.idempotency_key FROM '^creditkit/feature:([^:]+):')
       FROM credit_hold h WHERE h.id = ${creditEntry.reference}::uuid)
  END)`;

/** `text` as a LIKE pattern that matches it literally (the escape character is `\`). */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/** The WHERE conditions of a filter, beside the user's own (callers add the user and the cursor). */
export function historyConditions(filter: z.output<typeof historyFilterSchema>): SQL | undefined {
  return and(
    filter.type ? eq(creditEntry.type, filter.type) : undefined,
    filter.feature ? sql`${entryFeature} = ${filter.feature}` : undefined,
    filter.from ? gte(creditEntry.createdAt, new Date(filter.from)) : undefined,
    filter.to ? lt(creditEntry.createdAt, new Date(filter.to)) : undefined,
    filter.search
      ? sql`${creditEntry.description} ILIKE ${`%${likeLiteral(filter.search)}%`} ESCAPE '\\'`
      : undefined,
  );
}

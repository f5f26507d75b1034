import { z } from "zod";
import { creditEntryTypes } from "@/credits/schemas";
import { queryIntegerSchema } from "@/lib/strict-input";

/**
 * The history filter as a query string (`?type=consume&feature=image.generate&from=…&to=…&search=…`), the
 * same on the user's and the operator's list and export routes. An empty value means "no filter", so a
 * form can submit its blank fields. The values are checked again by the core (historyFilterSchema).
 */
const blankIsAbsent = (value: unknown) => (value === "" ? undefined : value);

export const historyFilterQuery = {
  type: z.preprocess(blankIsAbsent, z.enum(creditEntryTypes).optional()),
  feature: z.preprocess(blankIsAbsent, z.string().max(100).optional()),
  /** ISO 8601 instants with an offset (`2026-12-01T00:00:00Z`, `2026-12-01T00:00:00+08:00`); `to` exclusive. */
  from: z.preprocess(blankIsAbsent, z.iso.datetime({ offset: true }).optional()),
  to: z.preprocess(blankIsAbsent, z.iso.datetime({ offset: true }).optional()),
  search: z.preprocess(blankIsAbsent, z.string().max(200).optional()),
};

/** A page of a filtered history: the filter plus `limit` (1-100, default 20) and `cursor` (a `nextCursor`). */
export const historyPageQuerySchema = z
  .object({
    limit: queryIntegerSchema({ min: 1, max: 100 }, 20),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, "cursor must come from a previous page's nextCursor")
      .optional(),
    ...historyFilterQuery,
  })
  .strict();

/** An export of a filtered history: the filter only (the export has no pages). */
export const historyExportQuerySchema = z.object(historyFilterQuery).strict();

type FilterQuery = z.output<z.ZodObject<typeof historyFilterQuery>>;

/** The query's filter without its absent fields, for listTransactions and exportTransactionsCsv. */
export function filterOf(query: FilterQuery) {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)) as {
    [Key in keyof FilterQuery]?: Exclude<FilterQuery[Key], undefined>;
  };
}

/** The fields of a listed entry that the browser pages show (absent ones left out). */
export function browserTransactionItem(item: {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  description: string;
  createdAt: string;
  packageId: string | null;
  planId: string | null;
  periodStart: string | null;
  periodEnd: string | null;
  periodKind: string | null;
  usableUntil?: string | null;
  lateReason?: string | null;
  feature: string | null;
}) {
  const { packageId, planId, periodStart, periodEnd, periodKind, usableUntil, lateReason, feature } = item;
  const { id, type, amount, balanceAfter } = item;
  return {
    id,
    type,
    amount,
    balanceAfter,
    description: item.description,
    createdAt: item.createdAt,
    ...(packageId ? { packageId } : {}),
    ...(planId ? { planId } : {}),
    ...(periodStart ? { periodStart } : {}),
    ...(periodEnd ? { periodEnd } : {}),
    ...(periodKind ? { periodKind } : {}),
    ...(usableUntil ? { usableUntil } : {}),
    ...(lateReason ? { lateReason } : {}),
    ...(feature ? { feature } : {}),
  };
}

/**
 * The export's answer: the CSV stream, never cached, saved as a dated file
 * (`credits-history-2026-12-01.csv`, the server's UTC date; `label` adds e.g. the user's id for operators).
 */
export function csvDownload(body: ReadableStream<Uint8Array>, label?: string): Response {
  const date = new Date().toISOString().slice(0, 10);
  const safeLabel = label ? `-${label.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)}` : "";
  return new Response(body, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="credits-history${safeLabel}-${date}.csv"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

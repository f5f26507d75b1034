import { stringify } from "csv-stringify/sync";
import { and, desc, eq, lt } from "drizzle-orm";
import { z } from "zod";
import {
  entryFeature,
  type HistoryFilter,
  historyConditions,
  historyFilterSchema,
} from "@/credits/history-filter";
import { parseInput } from "@/credits/parse-input";
import { userIdSchema } from "@/credits/schemas";
import { creditEntry } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/** The export's columns, in order; the first line of every file names them. */
export const HISTORY_CSV_COLUMNS = [
  "id",
  "created_at",
  "type",
  "amount",
  "balance_after",
  "feature",
  "description",
  "idempotency_key",
  "reference",
] as const;

/**
 * Entries read per query. Memory is bounded by one batch (plus the stream's one queued chunk), whatever
 * the history's length: 2,000 rows is about 0.5 MB of CSV, large enough that a query's round trip is a
 * small share of the time (BENCHMARKS.md, "CSV export").
 */
export const EXPORT_BATCH_SIZE = 2_000;

const exportInputSchema = z
  .object({ userId: userIdSchema, batchSize: z.number().int().min(1).max(10_000).default(EXPORT_BATCH_SIZE) })
  .strict();

/**
 * A text cell a spreadsheet would run as a formula (OWASP "CSV injection"): one starting with `=`, `+`,
 * `-`, `@`, a tab or a carriage return. Such a cell is written with a leading `'`, which spreadsheets show
 * as text and never evaluate. Only text the ledger stores is protected (feature, description, idempotency
 * key, reference: a description can come from a service-API caller); numbers are written by the export
 * itself as plain integers, so a negative amount stays `-5`, a number, not `'-5`.
 */
export function protectCell(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

type ExportRow = {
  id: number;
  createdAt: Date;
  type: string;
  amount: number;
  balanceAfter: number;
  feature: string | null;
  description: string;
  idempotencyKey: string;
  reference: string | null;
};

function toRecord(row: ExportRow): string[] {
  return [
    String(row.id),
    row.createdAt.toISOString(),
    protectCell(row.type),
    String(row.amount),
    String(row.balanceAfter),
    protectCell(row.feature ?? ""),
    protectCell(row.description),
    protectCell(row.idempotencyKey),
    protectCell(row.reference ?? ""),
  ];
}

/**
 * The filtered history, newest first, one batch of at most `batchSize` entries at a time (keyset: each
 * query starts below the last id read, over the (user_id, id) index). Entries are never updated or
 * deleted while the account exists, and new ones get higher ids than the first batch read, so the batches
 * together are exactly the entries that matched when the export began, each once, even though each batch
 * is its own query (no transaction is held open for the length of a download).
 */
export async function* readHistoryBatches(
  db: DatabaseOrTransaction,
  input: { userId: string; filter?: HistoryFilter | undefined; batchSize?: number },
): AsyncGenerator<ExportRow[]> {
  const { userId, batchSize } = parseInput(exportInputSchema, {
    userId: input.userId,
    ...(input.batchSize !== undefined ? { batchSize: input.batchSize } : {}),
  });
  const filter = parseInput(historyFilterSchema, input.filter ?? {});
  let below: number | null = null;
  for (;;) {
    const rows: ExportRow[] = await db
      .select({
        id: creditEntry.id,
        createdAt: creditEntry.createdAt,
        type: creditEntry.type,
        amount: creditEntry.amount,
        balanceAfter: creditEntry.balanceAfter,
        feature: entryFeature,
        description: creditEntry.description,
        idempotencyKey: creditEntry.idempotencyKey,
        reference: creditEntry.reference,
      })
      .from(creditEntry)
      .where(
        and(
          eq(creditEntry.userId, userId),
          below === null ? undefined : lt(creditEntry.id, below),
          historyConditions(filter),
        ),
      )
      .orderBy(desc(creditEntry.userId), desc(creditEntry.id))
      .limit(batchSize);
    if (rows.length > 0) yield rows;
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) return;
    below = last.id;
  }
}

/**
 * The filtered history as a CSV byte stream (UTF-8 with a byte-order mark, so spreadsheets read Chinese
 * descriptions right; RFC 4180 quoting by csv-stringify; a header row of HISTORY_CSV_COLUMNS; `created_at`
 * in ISO 8601 UTC; `amount` signed, in credits). Pull-based: a batch is read only when the consumer has
 * taken the previous chunk (the stream's backpressure), so a slow download never piles rows up in memory,
 * and cancelling the download stops the reads. Validates its input before the stream starts (throws
 * InvalidInputError, 400). A failed read errors the stream (the download ends incomplete; nothing is
 * retried half-way, which could repeat rows).
 */
export function exportTransactionsCsv(
  db: DatabaseOrTransaction,
  input: { userId: string; filter?: HistoryFilter | undefined; batchSize?: number },
): ReadableStream<Uint8Array> {
  parseInput(exportInputSchema, { userId: input.userId });
  parseInput(historyFilterSchema, input.filter ?? {});
  const encoder = new TextEncoder();
  const batches = readHistoryBatches(db, input);
  let first = true;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const header = first;
        first = false;
        const next = await batches.next();
        const records = next.done ? [] : next.value.map(toRecord);
        if (header || records.length > 0) {
          const text = stringify(header ? [[...HISTORY_CSV_COLUMNS], ...records] : records, { bom: header });
          controller.enqueue(encoder.encode(text));
        }
        if (next.done) controller.close();
      },
      async cancel() {
        await batches.return(undefined);
      },
    },
    { highWaterMark: 1 },
  );
}

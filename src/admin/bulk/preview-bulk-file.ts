import { createHash, randomUUID } from "node:crypto";
import { parse } from "csv-parse";
import { eq, inArray, sql } from "drizzle-orm";
import type { Actor } from "@/audit/record-audit";
import { CreditsError } from "@/credits/errors";
import { sqlStateOf } from "@/credits/sql-rows";
import { bulkBatch, bulkRow } from "@/db/schema";
import type { Database } from "@/db/types";
import { BULK_ROWS_IDENTITY_VERSION, canonicalBulkRow, MAX_BULK_ROWS, parseBulkRow } from "./bulk-csv";
import { refuseUncoveredRevokes } from "./refuse-uncovered-revokes";

/** Rows written to the database per insert while the file streams in: bounds memory, not the file. */
const INSERT_CHUNK = 1_000;

export type BulkPreview = { batchId: string; existing: boolean };

/**
 * Reads an uploaded CSV file (format: bulk-csv.ts) as a stream and checks every row without touching the
 * ledger: each row is validated on its own (zod), stored in `bulk_row` 1,000 at a time (memory stays
 * bounded whatever the file's size), then the whole file is checked in the database: the account exists
 * (`unknown_user`), the row repeats an earlier row's account, amount, expiry and reason (`duplicate`: the
 * later copy is refused; a file that means it twice must say so with another reason), an expiry date not in
 * the future (`bad_expiry`), and a revoke larger than the account's available credits (balance minus held)
 * plus the file's earlier rows for it that are not refused themselves (`insufficient_credits`, in file order:
 * refuse-uncovered-revokes.ts). The balance may change before the batch is applied; the ledger checks again
 * then.
 *
 * The batch is named by the SHA-256 of its parsed rows (storeRows), not of the file's bytes: the same rows
 * uploaded again, even re-saved by a spreadsheet with a byte-order mark, CRLF line ends or other quoting,
 * answer the existing batch (`existing: true`) and store nothing, which is what makes a second upload grant
 * nothing (the rows' idempotency keys derive from this name). A batch previewed by an earlier version,
 * named by its file's bytes, is still found by the same bytes. Throws
 * CreditsError `invalid_input` (400) for a file that is not CSV, lacks the header's required columns or
 * has more than 200,000 rows.
 */
export async function previewBulkFile(
  db: Database,
  input: { fileName: string; body: AsyncIterable<Uint8Array> },
  actor: Actor,
): Promise<BulkPreview> {
  // Named by a placeholder until the whole file has been read and hashed.
  const placeholder = `pending:${randomUUID()}`;
  const [batch] = await db
    .insert(bulkBatch)
    .values({
      fileSha256: placeholder,
      fileName: input.fileName.slice(0, 200) || "upload.csv",
      operatorUserId: actor.userId,
      operatorLabel: actor.label,
    })
    .returning({ id: bulkBatch.id });
  const batchId = (batch as { id: string }).id;
  try {
    const { rowsSha256, fileSha256 } = await storeRows(db, batchId, input.body);
    const answerExisting = async (): Promise<BulkPreview | null> => {
      // The rows' hash names every batch previewed since it became the identity; the file's bytes name the
      // batches previewed before (their rows' keys derive from it), so the same bytes uploaded again after
      // an upgrade still find their batch and grant nothing twice.
      const [existing] = await db
        .select({ id: bulkBatch.id })
        .from(bulkBatch)
        .where(inArray(bulkBatch.fileSha256, [rowsSha256, fileSha256]))
        .limit(1);
      if (!existing) return null;
      await db.delete(bulkBatch).where(eq(bulkBatch.id, batchId));
      return { batchId: existing.id, existing: true };
    };
    const known = await answerExisting();
    if (known) return known;
    await checkRows(db, batchId);
    try {
      await db.update(bulkBatch).set({ fileSha256: rowsSha256 }).where(eq(bulkBatch.id, batchId));
    } catch (error) {
      // The same rows previewed at the same time by another upload, which named its batch first.
      if (sqlStateOf(error) !== "23505") throw error;
      const existing = await answerExisting();
      if (!existing) throw error;
      return existing;
    }
    return { batchId, existing: false };
  } catch (error) {
    await db.delete(bulkBatch).where(eq(bulkBatch.id, batchId));
    throw error;
  }
}

/**
 * Streams the file into `bulk_row` and answers its two hashes: `rowsSha256`, the batch's identity (SHA-256
 * of BULK_ROWS_IDENTITY_VERSION and one canonicalBulkRow line per data row, bulk-csv.ts), and `fileSha256`
 * over the raw bytes, the identity of batches previewed by earlier versions. The two can never name
 * different files alike: the rows' text starts with a line that is no valid header, so no accepted file's
 * bytes are another file's rows' text.
 */
async function storeRows(
  db: Database,
  batchId: string,
  body: AsyncIterable<Uint8Array>,
): Promise<{ rowsSha256: string; fileSha256: string }> {
  const hash = createHash("sha256");
  const rowsHash = createHash("sha256").update(`${BULK_ROWS_IDENTITY_VERSION}\n`);
  // Records as arrays, the header read here: a row whose field count differs from the header's is refused
  // (`bad_field_count`) rather than cut short or padded, which named columns would do silently (an
  // unquoted comma in a reason would drop the reason's end from the ledger and the audit log).
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    trim: true,
  });
  const feed = (async () => {
    for await (const chunk of body) {
      hash.update(chunk);
      if (!parser.write(chunk)) await new Promise((resolve) => parser.once("drain", resolve));
    }
    parser.end();
  })();
  feed.catch((error: unknown) => parser.destroy(error as Error));
  let rowNumber = 0;
  let pending: (typeof bulkRow.$inferInsert)[] = [];
  const flush = async () => {
    if (pending.length) await db.insert(bulkRow).values(pending);
    pending = [];
  };
  let columns: string[] | null = null;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      if (columns === null) {
        columns = fields.map((name) => name.trim().toLowerCase());
        if (!columns.includes("amount") || !columns.includes("reason"))
          throw new CreditsError("invalid_input", "The header must name the amount and reason columns.");
        if (!["user_id", "email", "external_id"].some((column) => columns?.includes(column)))
          throw new CreditsError("invalid_input", "The header must name user_id, email or external_id.");
        continue;
      }
      rowNumber += 1;
      if (rowNumber > MAX_BULK_ROWS)
        throw new CreditsError("invalid_input", `A file has at most ${MAX_BULK_ROWS} rows.`);
      const record = recordOf(columns, fields);
      rowsHash.update(`${canonicalBulkRow(record, fields.slice(columns.length))}\n`);
      const row = parseBulkRow(record);
      if (fields.length !== columns.length) row.error = "bad_field_count";
      pending.push({
        batchId,
        rowNumber,
        userRef: row.userRef,
        refKind: row.refKind,
        amount: row.amount,
        expireDays: row.expireDays,
        expiresAt: row.expiresAt,
        reason: row.reason,
        status: row.error ? "invalid" : "valid",
        error: row.error,
      });
      if (pending.length >= INSERT_CHUNK) await flush();
    }
    await feed;
  } catch (error) {
    if (error instanceof CreditsError) throw error;
    throw new CreditsError("invalid_input", `The file is not valid CSV: ${(error as Error).message}`);
  }
  await flush();
  return { rowsSha256: rowsHash.digest("hex"), fileSha256: hash.digest("hex") };
}

/** A data row's fields by the header's column names (of a name the header repeats, the first column counts). */
function recordOf(columns: readonly string[], fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  columns.forEach((name, index) => {
    if (!(name in record)) record[name] = fields[index] ?? "";
  });
  return record;
}

/** The whole-file checks, in the database (see previewBulkFile), then the batch's counts and totals. */
async function checkRows(db: Database, batchId: string): Promise<void> {
  await db.execute(sql`
    UPDATE bulk_row r SET user_id = u.id FROM "user" u
    WHERE r.batch_id = ${batchId} AND r.status = 'valid'
      AND ((r.ref_kind = 'user_id' AND u.id = r.user_ref) OR (r.ref_kind = 'email' AND u.email = lower(r.user_ref)))`);
  await db.execute(sql`
    UPDATE bulk_row r SET user_id = a.user_id FROM credit_account a
    WHERE r.batch_id = ${batchId} AND r.status = 'valid' AND r.user_id IS NULL
      AND ((r.ref_kind = 'user_id' AND a.user_id = r.user_ref) OR (r.ref_kind = 'external_id' AND a.external_id = r.user_ref))`);
  await db.execute(sql`
    UPDATE bulk_row SET status = 'invalid', error = 'unknown_user'
    WHERE batch_id = ${batchId} AND status = 'valid' AND user_id IS NULL`);
  await db.execute(sql`
    UPDATE bulk_row SET status = 'invalid', error = 'bad_expiry'
    WHERE batch_id = ${batchId} AND status = 'valid' AND expires_at IS NOT NULL AND expires_at <= now()`);
  await db.execute(sql`
    UPDATE bulk_row r SET status = 'invalid', error = 'duplicate'
    FROM (SELECT row_number, min(row_number) OVER (
            PARTITION BY user_id, amount, expire_days, expires_at, reason) AS first_row
          FROM bulk_row WHERE batch_id = ${batchId} AND status = 'valid') d
    WHERE r.batch_id = ${batchId} AND r.row_number = d.row_number AND d.row_number > d.first_row`);
  await refuseUncoveredRevokes(db, batchId);
  await db.execute(sql`
    UPDATE bulk_batch b SET
      total_rows = c.total, valid_rows = c.valid, failed_rows = c.total - c.valid,
      grant_total = c.grants, revoke_total = c.revokes
    FROM (SELECT count(*)::int AS total,
                 count(*) FILTER (WHERE status = 'valid')::int AS valid,
                 coalesce(sum(amount) FILTER (WHERE status = 'valid' AND amount > 0), 0) AS grants,
                 coalesce(-sum(amount) FILTER (WHERE status = 'valid' AND amount < 0), 0) AS revokes
          FROM bulk_row WHERE batch_id = ${batchId}) c
    WHERE b.id = ${batchId}`);
}

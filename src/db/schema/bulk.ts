import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * An operator's bulk grant or revoke: one uploaded CSV file. `fileSha256` is unique and names the batch:
 * the SHA-256 of the file's parsed rows (src/admin/bulk/preview-bulk-file.ts), so the same rows uploaded
 * again, whatever their bytes, open the same batch and a file applies once however often it is uploaded
 * (its rows' idempotency keys derive from the hash as well, src/admin/bulk/apply-bulk-batch.ts). Batches
 * previewed before the rows became the identity hold the SHA-256 of the file's bytes, looked up as well.
 * Status: `previewed` (rows parsed and checked, nothing written to the ledger), `queued` (apply asked),
 * `running`, `done`. Counts are rows; totals are credits.
 */
export const bulkBatch = pgTable(
  "bulk_batch",
  {
    id: uuid().primaryKey().defaultRandom(),
    fileSha256: text().notNull().unique(),
    fileName: text().notNull(),
    operatorUserId: text(),
    operatorLabel: text().notNull(),
    status: text().notNull().default("previewed"),
    totalRows: integer().notNull().default(0),
    /** Rows the preview found good (they will be tried when applied). */
    validRows: integer().notNull().default(0),
    appliedRows: integer().notNull().default(0),
    /** Rows refused by the preview plus rows the ledger refused when applied. */
    failedRows: integer().notNull().default(0),
    grantTotal: bigint({ mode: "number" }).notNull().default(0),
    revokeTotal: bigint({ mode: "number" }).notNull().default(0),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    appliedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    check("bulk_batch_status", sql`${t.status} IN ('previewed', 'queued', 'running', 'done')`),
    index("bulk_batch_created_idx").on(t.createdAt),
  ],
);

/**
 * One data row of a batch's file (`rowNumber` counts data rows from 1, the header not counted). `userId` is
 * the resolved ledger account, null until resolved or when nobody matched. Status: `valid` (waiting to be
 * applied), `invalid` (refused by the preview, `error` says why), `applied`, `failed` (refused by the
 * ledger when applied). `amount` is signed credits: positive grants, negative revokes.
 */
export const bulkRow = pgTable(
  "bulk_row",
  {
    batchId: uuid()
      .notNull()
      .references(() => bulkBatch.id, { onDelete: "cascade" }),
    rowNumber: integer().notNull(),
    userRef: text().notNull(),
    refKind: text().notNull(),
    userId: text(),
    amount: bigint({ mode: "number" }),
    expireDays: integer(),
    expiresAt: timestamp({ withTimezone: true }),
    reason: text().notNull(),
    status: text().notNull(),
    error: text(),
    entryId: bigint({ mode: "number" }),
  },
  (t) => [
    primaryKey({ columns: [t.batchId, t.rowNumber] }),
    check("bulk_row_status", sql`${t.status} IN ('valid', 'invalid', 'applied', 'failed')`),
    index("bulk_row_pending_idx").on(t.batchId, t.rowNumber).where(sql`${t.status} = 'valid'`),
  ],
);

import { z } from "zod";
import { MAX_CREDITS_PER_OPERATION, MAX_EXPIRE_DAYS, storableTextSchema } from "@/credits/schemas";

/**
 * The bulk file's format. A header row names the columns (any order, case-insensitive); each data row
 * names its account by exactly one of `user_id` (a signed-up user's id or a customer's `cus_…` account),
 * `email` (a signed-up user's address) or `external_id` (a customer of another backend,
 * src/credits/find-customer.ts), and gives `amount` in whole credits: positive grants a new lot, negative
 * revokes (there is no separate action column, so a row cannot say "revoke" and "+100" at once).
 * `expires` (grants only, optional) is a date `YYYY-MM-DD` (the lot expires at 00:00 UTC that day) or a
 * whole number of days. `reason` (3-500 characters) goes to the ledger entry and the audit log.
 */
export const BULK_COLUMNS = ["user_id", "email", "external_id", "amount", "expires", "reason"] as const;

/** Why a row is refused, in the preview or when applied. */
export const bulkRowErrors = [
  "bad_user",
  "bad_amount",
  "bad_expiry",
  "bad_reason",
  /** More or fewer fields than the header names (an unquoted comma in a reason, a missing column). */
  "bad_field_count",
  "unknown_user",
  "duplicate",
  "insufficient_credits",
  "ledger_refused",
] as const;
export type BulkRowError = (typeof bulkRowErrors)[number];

/** A file has at most this many data rows: a batch is applied in one job, and this bounds its run. */
export const MAX_BULK_ROWS = 200_000;

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value ?? "").trim());

const rawRowSchema = z.object({
  user_id: optionalText,
  email: optionalText,
  external_id: optionalText,
  amount: optionalText,
  expires: optionalText,
  reason: optionalText,
});

export type ParsedBulkRow = {
  userRef: string;
  refKind: "user_id" | "email" | "external_id" | "none";
  amount: number | null;
  expireDays: number | null;
  expiresAt: Date | null;
  reason: string;
  error: BulkRowError | null;
};

const amountSchema = z
  .string()
  .regex(/^[+-]?\d{1,10}$/)
  .transform(Number)
  .refine((value) => value !== 0 && Math.abs(value) <= MAX_CREDITS_PER_OPERATION);
const reasonSchema = storableTextSchema.min(3).max(500);
const daysSchema = z
  .string()
  .regex(/^\d{1,5}$/)
  .transform(Number)
  .refine((value) => value >= 1 && value <= MAX_EXPIRE_DAYS);
const dateSchema = z.iso.date().transform((value) => new Date(`${value}T00:00:00Z`));

/**
 * Checks one data row on its own (what needs no database): the first error found, or none. The
 * account, duplicates and balances are checked for the whole file in the database (preview-bulk-file.ts).
 */
export function parseBulkRow(record: Record<string, string | undefined>): ParsedBulkRow {
  const raw = rawRowSchema.parse(record);
  const refs = (["user_id", "email", "external_id"] as const).filter((kind) => raw[kind] !== "");
  const refKind: ParsedBulkRow["refKind"] = refs.length === 1 && refs[0] ? refs[0] : "none";
  const userRef = refKind === "none" ? "" : raw[refKind].slice(0, 320);
  const reason = raw.reason.slice(0, 600);
  const base: Omit<ParsedBulkRow, "error"> = {
    userRef,
    refKind,
    reason,
    amount: null,
    expireDays: null,
    expiresAt: null,
  };
  if (refKind === "none" || !storableTextSchema.safeParse(userRef).success)
    return { ...base, reason: "", error: "bad_user" };
  const amount = amountSchema.safeParse(raw.amount);
  if (!amount.success) return { ...base, reason: "", error: "bad_amount" };
  const reasonOk = reasonSchema.safeParse(reason);
  if (!reasonOk.success) return { ...base, amount: amount.data, reason: "", error: "bad_reason" };
  let expireDays: number | null = null;
  let expiresAt: Date | null = null;
  if (raw.expires !== "") {
    // An expiry on a revoke means nothing (a revoke draws from existing lots): refused, not ignored.
    const days = daysSchema.safeParse(raw.expires);
    const date = dateSchema.safeParse(raw.expires);
    if (amount.data < 0 || (!days.success && !date.success))
      return { ...base, amount: amount.data, reason, error: "bad_expiry" };
    if (days.success) expireDays = days.data;
    else if (date.success) expiresAt = date.data;
  }
  return { userRef, refKind, amount: amount.data, expireDays, expiresAt, reason, error: null };
}

/** The first line of the text bulkRowsIdentity hashes: names the serialisation (see there). */
export const BULK_ROWS_IDENTITY_VERSION = "creditkit bulk rows v1";

/**
 * One data row as it enters a batch's identity (preview-bulk-file.ts): the values of the known columns as
 * written (the parser has trimmed them, an email's case is kept), with the amount and a number of days
 * written as plain integers ("+040" and "40" are the same grant), then any fields past the header's. A JSON
 * array, so no value can run into the next. What a spreadsheet changes when it saves a file again (a
 * byte-order mark, CRLF line ends, quotes, the order of the columns, blanks around a value) changes
 * nothing here; a changed account, amount, expiry or reason, or another row order, does.
 */
export function canonicalBulkRow(record: Record<string, string | undefined>, extraFields: readonly string[]) {
  const value = (column: string) => (record[column] ?? "").trim();
  const integer = (text: string, pattern: RegExp) => (pattern.test(text) ? String(Number(text)) : text);
  return JSON.stringify([
    value("user_id"),
    value("email"),
    value("external_id"),
    integer(value("amount"), /^[+-]?\d{1,15}$/),
    integer(value("expires"), /^\d{1,15}$/),
    value("reason"),
    extraFields,
  ]);
}

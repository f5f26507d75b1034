import { sql } from "drizzle-orm";
import type { Database } from "@/db/types";

/** Row numbers per UPDATE when refused rows are marked. */
const MARK_CHUNK = 5_000;

type ShortAccount = {
  available: string | number;
  rows: [number, number | string][] | string;
};

/**
 * The preview's balance check (preview-bulk-file.ts): walks each account's valid rows in file order from its
 * available credits (balance minus held), adds grants, takes revokes, and refuses a revoke the walk cannot
 * cover (`insufficient_credits`: revokes never make debt, as in adjust-credits.ts). A refused revoke takes
 * nothing, so later rows of the same account are checked against what is really left: with 100 available,
 * rows −150 and −50 refuse the first and keep the second, as applying them would.
 *
 * Cost: one window pass over the batch's valid rows finds the accounts whose plain running sum (every row
 * counted) ever goes below zero; only those can have a refusal, since for any other account the walk is
 * that running sum. Only their rows come back to the application, as `[row, amount]` pairs, one JSON array
 * per account, and are walked in one pass; refused rows are marked 5,000 per statement. A file where most
 * accounts overdraw sends at most its own rows (200,000 pairs, a few MB) once; a typical file sends few.
 */
export async function refuseUncoveredRevokes(db: Database, batchId: string): Promise<number> {
  const result = (await db.execute(sql`
    SELECT min(available) AS available,
           json_agg(json_build_array(row_number, amount) ORDER BY row_number) AS rows
    FROM (SELECT user_id, row_number, amount, available,
                 min(running) OVER (PARTITION BY user_id) AS lowest
          FROM (SELECT b.user_id, b.row_number, b.amount, coalesce(a.balance - a.held, 0) AS available,
                       coalesce(a.balance - a.held, 0)
                       + sum(b.amount) OVER (PARTITION BY b.user_id ORDER BY b.row_number) AS running
                FROM bulk_row b LEFT JOIN credit_account a ON a.user_id = b.user_id
                WHERE b.batch_id = ${batchId} AND b.status = 'valid') w) s
    WHERE lowest < 0
    GROUP BY user_id`)) as unknown as { rows: ShortAccount[] };
  const refused: number[] = [];
  for (const account of result.rows) {
    let left = Number(account.available);
    const rows =
      typeof account.rows === "string" ? (JSON.parse(account.rows) as [number, number][]) : account.rows;
    for (const [rowNumber, amount] of rows) {
      const next = left + Number(amount);
      if (Number(amount) < 0 && next < 0) refused.push(rowNumber);
      else left = next;
    }
  }
  for (let at = 0; at < refused.length; at += MARK_CHUNK)
    await db.execute(sql`
      UPDATE bulk_row SET status = 'invalid', error = 'insufficient_credits'
      WHERE batch_id = ${batchId}
        AND row_number = ANY(${`{${refused.slice(at, at + MARK_CHUNK).join(",")}}`}::int[])`);
  return refused.length;
}

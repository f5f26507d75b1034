import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { lockAccount } from "./lock-account";
import type { LowBalanceAlert, LowBalanceThreshold } from "./schemas";

export type { LowBalanceAlert, LowBalanceThreshold } from "./schemas";

import { sqlRows } from "./sql-rows";

type AlertRow = {
  credits: string | number | null;
  percent: number | null;
  effective: string | number | null;
  available: string | number;
  alerted_at: string | Date | null;
};

function toAlert(row: AlertRow): LowBalanceAlert {
  const effective = row.effective === null ? null : Number(row.effective);
  const available = Number(row.available);
  // The mark is cleared by the next balance change at or above the threshold; a plan change can lower a
  // percentage threshold without any balance change, so the answer also checks the balance against it now.
  const low = row.alerted_at !== null && effective !== null && available < effective;
  return {
    threshold:
      row.credits !== null
        ? { credits: Number(row.credits) }
        : row.percent !== null
          ? { percent: row.percent }
          : null,
    effectiveThreshold: effective,
    available,
    low,
    crossedAt: low && row.alerted_at !== null ? new Date(row.alerted_at).toISOString() : null,
  };
}

const ALERT_COLUMNS = sql`
  low_balance_threshold AS credits, low_balance_threshold_percent AS percent,
  creditkit_low_balance_threshold(user_id, low_balance_threshold, low_balance_threshold_percent) AS effective,
  balance - held AS available, low_balance_alerted_at AS alerted_at`;

/**
 * Sets (or, with null, clears) the account's low-balance threshold: credits, or a percentage of the
 * monthly credits of the plan in force at each balance change (src/alerts/sql/low-balance-alerts.sql
 * resolves it in the change's own transaction). `locale` ("en" | "zh"), when given, becomes the language
 * of the alert emails. Setting sends nothing by itself, even when the balance is already below: the alert
 * fires on a crossing. It re-arms the alert when the balance is not below the new threshold.
 *
 * Creates the account when the user has none (under its row lock, like every ledger change); the caller
 * validates the values (credits a positive integer, percent 1-100) and the database's CHECKs hold them too.
 */
export async function setLowBalanceAlert(
  tx: DatabaseOrTransaction,
  input: { userId: string; threshold: LowBalanceThreshold | null; locale?: "en" | "zh" },
): Promise<LowBalanceAlert> {
  await lockAccount(tx, input.userId);
  const credits = input.threshold && "credits" in input.threshold ? input.threshold.credits : null;
  const percent = input.threshold && "percent" in input.threshold ? input.threshold.percent : null;
  const [row] = sqlRows<AlertRow>(
    await tx.execute(sql`
      UPDATE credit_account SET
        low_balance_threshold = ${credits}::bigint,
        low_balance_threshold_percent = ${percent}::integer,
        alert_locale = coalesce(${input.locale ?? null}::text, alert_locale),
        -- Kept only while the balance is still below the new threshold; otherwise the alert is armed again.
        low_balance_alerted_at = CASE
          WHEN balance - held < creditkit_low_balance_threshold(user_id, ${credits}::bigint, ${percent}::integer)
          THEN low_balance_alerted_at END,
        updated_at = now()
      WHERE user_id = ${input.userId}
      RETURNING ${ALERT_COLUMNS}`),
  );
  if (!row) throw new Error(`credit account ${input.userId} vanished under its lock`);
  return toAlert(row);
}

/** The account's alert setting and state (see {@link LowBalanceAlert}); the defaults when it has no account. */
export async function getLowBalanceAlert(
  db: DatabaseOrTransaction,
  userId: string,
): Promise<LowBalanceAlert> {
  const [row] = sqlRows<AlertRow>(
    await db.execute(sql`SELECT ${ALERT_COLUMNS} FROM credit_account WHERE user_id = ${userId}`),
  );
  return row
    ? toAlert(row)
    : { threshold: null, effectiveThreshold: null, available: 0, low: false, crossedAt: null };
}

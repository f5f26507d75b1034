import type { DatabaseOrTransaction } from "@/db/types";
import { setLowBalanceAlert } from "./set-low-balance-alert";

/**
 * Sets (or, with null, clears) the account's low-balance threshold, in credits (replacing a percentage
 * one): when the available balance (balance - held) falls from at or above it to below it, the account's
 * low-balance alert fires in the same transaction: a `balance.low` event
 * (src/outbound/sql/outbound-events.sql) and one email (src/alerts/sql/low-balance-alerts.sql). Setting it
 * writes no event even when the balance is already below it: the event marks a crossing, not a state.
 * Creates the account when the user has none (under its row lock, like every ledger change); throws the
 * database's foreign-key error for an unknown user. `threshold` must be a positive integer or null (the
 * caller validates; the database's CHECK too).
 */
export async function setLowBalanceThreshold(
  tx: DatabaseOrTransaction,
  input: { userId: string; threshold: number | null },
): Promise<{ threshold: number | null; available: number }> {
  const alert = await setLowBalanceAlert(tx, {
    userId: input.userId,
    threshold: input.threshold === null ? null : { credits: input.threshold },
  });
  return { threshold: input.threshold, available: alert.available };
}

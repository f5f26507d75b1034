import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Folds the overview's aggregate deltas (appended by the ledger's triggers, one per write) into their sums,
 * in one transaction (`creditkit_compact_ledger_aggregates`, src/credits/sql/ledger-aggregates.sql). Nothing
 * any reader sees changes: sums + deltas stay equal to the ledger. It keeps the deltas few, so the overview
 * reads about as many rows on any ledger; the sweep job runs it every minute. Safe to run at any time and
 * from several instances (they queue on an advisory lock). Returns how many deltas were folded.
 */
export async function compactLedgerAggregates(db: DatabaseOrTransaction): Promise<number> {
  const result = (await db.execute(
    sql`SELECT creditkit_compact_ledger_aggregates() AS folded`,
  )) as unknown as {
    rows: { folded: string | number }[];
  };
  return Number(result.rows[0]?.folded ?? 0);
}

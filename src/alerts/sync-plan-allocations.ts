import { sql } from "drizzle-orm";
import { PLANS, type Plan } from "@/catalog/plans";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Copies the plans' monthly credits from the catalog into `plan_allocation`, where a spend's transaction
 * resolves a percentage threshold (src/alerts/sql/low-balance-alerts.sql). The catalog lives in code, so
 * the copy is written again on every start (src/instrumentation.ts) and before a percentage threshold is
 * saved: a catalog edit takes effect with the next start. Writes only rows that differ (the usual call
 * changes nothing), and removes plans gone from the catalog (their subscribers then resolve to the Free plan).
 */
export async function syncPlanAllocations(
  db: DatabaseOrTransaction,
  plans: readonly Plan[] = PLANS,
): Promise<void> {
  const rows = plans.map(
    (plan) => sql`(${plan.id}, ${plan.creditsPerMonth}::integer, ${plan.price === null})`,
  );
  await db.execute(sql`
    INSERT INTO plan_allocation (plan_id, credits_per_month, is_free)
    VALUES ${sql.join(rows, sql`, `)}
    ON CONFLICT (plan_id) DO UPDATE
      SET credits_per_month = excluded.credits_per_month, is_free = excluded.is_free, updated_at = now()
      WHERE (plan_allocation.credits_per_month, plan_allocation.is_free)
            IS DISTINCT FROM (excluded.credits_per_month, excluded.is_free)`);
  const ids = plans.map((plan) => sql`${plan.id}`);
  await db.execute(sql`DELETE FROM plan_allocation WHERE plan_id NOT IN (${sql.join(ids, sql`, `)})`);
}

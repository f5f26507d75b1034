import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import { logger } from "@/lib/logger";

/** A pay dialog left open this long is taken as abandoned. */
export const ABANDON_AFTER_HOURS = 24;

/**
 * Marks purchases still `pending` a day after they started as `abandoned`, so lists and reports stop
 * showing pay dialogs nobody finished as payments in progress. Nothing else changes: the PaymentIntent
 * stays open, and if the customer does pay later, payment_intent.succeeded (or reconciliation) still
 * grants the credits and the purchase becomes `succeeded`, because the customer paid. Judged by the
 * database's clock, so instances with skewed clocks agree.
 */
export async function abandonStalePurchases(
  db: DatabaseOrTransaction,
): Promise<{ abandoned: number; purchaseIds: string[] }> {
  const result = (await db.execute(sql`
    UPDATE credit_purchase SET status = 'abandoned', updated_at = now()
    WHERE status = 'pending' AND created_at < now() - make_interval(hours => ${ABANDON_AFTER_HOURS})
    RETURNING id`)) as unknown as { rows: { id: string }[] };
  const purchaseIds = result.rows.map((row) => row.id);
  if (purchaseIds.length > 0) {
    logger.info({ abandoned: purchaseIds.length }, "purchases pending for a day marked abandoned");
  }
  return { abandoned: purchaseIds.length, purchaseIds };
}

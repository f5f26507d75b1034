import { sql } from "drizzle-orm";
import type { DatabaseOrTransaction } from "@/db/types";
import type { LedgerViolation } from "./verify-ledger";

/**
 * `verify` counts verified webhook events whose processing failed and that nobody has resolved yet
 * (stored by the webhook path in `webhook_failure`; resolved by a successful redelivery or an admin's
 * retry in Admin → Failed webhooks). Each one may be a payment not credited or a refund not applied.
 */
export async function checkUnresolvedWebhookFailures(db: DatabaseOrTransaction): Promise<LedgerViolation[]> {
  const result = (await db.execute(
    sql`SELECT event_id, event_type, error_code, attempts FROM webhook_failure
        WHERE resolved_at IS NULL ORDER BY first_failed_at LIMIT 100`,
  )) as unknown as { rows: { event_id: string; event_type: string; error_code: string; attempts: number }[] };
  const [total] = (
    (await db.execute(
      sql`SELECT count(*) AS n FROM webhook_failure WHERE resolved_at IS NULL`,
    )) as unknown as {
      rows: { n: string }[];
    }
  ).rows;
  const violations: LedgerViolation[] = result.rows.map((row) => ({
    check: "webhook_failures_unresolved",
    detail: `webhook event ${row.event_id} (${row.event_type}) failed ${row.attempts} time(s) with ${row.error_code} and is unresolved`,
  }));
  const more = Number(total?.n ?? 0) - violations.length;
  if (more > 0) {
    violations.push({
      check: "webhook_failures_unresolved",
      detail: `${more} more unresolved webhook failures`,
    });
  }
  return violations;
}

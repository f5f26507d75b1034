import { recordAudit } from "@/audit/record-audit";
import type { DatabaseOrTransaction } from "@/db/types";

/** The key making the call, as src/server/with-api-key.ts authenticated it. */
type ApiKeyCaller = { apiKeyId: string; apiKeyName: string };

/**
 * The audit log's actor for a service-API call: `api-key:<name>`, the name an operator gave the key, so
 * Admin → Audit says which integration did it (the id is in the details, for a key renamed or revoked).
 * The spend's SQL function writes the same label (src/service-api/sql/api-consume.sql).
 */
export function apiKeyActor(caller: Pick<ApiKeyCaller, "apiKeyName">) {
  return { userId: null, label: `api-key:${caller.apiKeyName}` };
}

/**
 * Records a service-API mutation (grant, hold create, capture, release, customer create or update) in the audit log, in the caller's
 * transaction: the entry commits with the change it describes, or neither does. Reads are not recorded.
 * Cost: one audit_log row per mutation with three index entries (about 550 bytes of WAL).
 */
export async function recordApiUse(
  tx: DatabaseOrTransaction,
  caller: ApiKeyCaller,
  action:
    | "credits.grant"
    | "hold.create"
    | "hold.capture"
    | "hold.release"
    | "customer.create"
    | "customer.update"
    | "webhook_endpoint.create"
    | "webhook_endpoint.delete"
    | "webhook_delivery.resend"
    | "account.low_balance_threshold",
  targetUserId: string | null,
  details: Record<string, unknown>,
): Promise<void> {
  await recordAudit(tx, apiKeyActor(caller), action, targetUserId, { ...details, apiKeyId: caller.apiKeyId });
}

import { type InternalKey, internalKey } from "@/credits/idempotency-keys";

/**
 * The ledger's key for a service-API mutation: the caller's Idempotency-Key scoped to the API key that
 * sent it, so two integrations using the same key never meet. It is an internal key: the caller's
 * 255 characters are checked before this prefix is added, and the prefix never costs them room.
 */
export function apiLedgerKey(apiKeyId: string, idempotencyKey: string): InternalKey {
  return internalKey("api", apiKeyId, idempotencyKey);
}

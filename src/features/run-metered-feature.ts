import { captureHold } from "@/credits/capture-hold";
import { createHold } from "@/credits/create-hold";
import { internalKey } from "@/credits/idempotency-keys";
import { releaseHold } from "@/credits/release-hold";
import type { Database } from "@/db/types";
import { logger } from "@/lib/logger";
import { COST_CATALOG, type FeatureId } from "./cost-catalog";

export type MeteredResult<T> =
  | { ok: true; value: T; cost: number; balance: number }
  | { ok: false; reason: "insufficient_credits"; cost: number; available: number };

/**
 * Runs a feature that costs credits: reserve the catalog price first (so two requests cannot both spend
 * the last credits), do the work, then capture on success or release on failure. The work runs outside
 * any transaction, so a slow feature never holds a database lock.
 *
 * `requestId` is an idempotency key and `request` what was asked (e.g. `{prompt}`): the same id with the
 * same request replays (the capture is answered once, never charged twice); the same id with another
 * request throws IdempotencyConflictError (409 idempotency_conflict), because charging it again or
 * answering it with the first request's result would both be wrong.
 */
export async function runMeteredFeature<T>(
  db: Database,
  input: { userId: string; feature: FeatureId; requestId: string; request: Record<string, unknown> },
  work: () => Promise<T>,
): Promise<MeteredResult<T>> {
  const { credits: cost, description } = COST_CATALOG[input.feature];
  const hold = await createHold(db, {
    userId: input.userId,
    amount: cost,
    description,
    idempotencyKey: internalKey("feature", input.feature, input.requestId),
    ttlSeconds: 300,
    work: { feature: input.feature, request: input.request },
  });
  if (!hold.ok) return { ok: false, reason: "insufficient_credits", cost, available: hold.available };
  let value: T;
  try {
    value = await work();
  } catch (error) {
    await releaseHold(db, { holdId: hold.holdId });
    logger.warn(
      { err: error, userId: input.userId, feature: input.feature },
      "feature failed; its credits were released",
    );
    throw error;
  }
  const captured = await captureHold(db, { holdId: hold.holdId, amount: cost });
  if (captured.ok) return { ok: true, value, cost, balance: captured.balance };
  // Reserved credits expired with their lots while the work ran and the rest cannot pay for it.
  const released = await releaseHold(db, { holdId: hold.holdId });
  return { ok: false, reason: "insufficient_credits", cost, available: released.available };
}

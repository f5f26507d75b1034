import { randomUUID } from "node:crypto";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { addCredits } from "@/credits/add-credits";
import { consumeCredits } from "@/credits/consume-credits";
import { CreditsError } from "@/credits/errors";
import { internalKey } from "@/credits/idempotency-keys";
import type { Database } from "@/db/types";

export type AdjustCreditsInput = {
  userId: string;
  /** Positive grants a new lot; negative takes credits away (never more than are available). */
  delta: number;
  reason: string;
  expireDays?: number;
  /** An expiry date instead of `expireDays` (must be in the future by the database's clock). */
  expiresAt?: Date;
  category?: "paid" | "promotional";
  /** The form's submission id, so a double click applies once. */
  requestId?: string;
  /** More fields for the audit entry (a bulk batch's id and row number). */
  auditDetails?: Record<string, unknown>;
};

/**
 * An operator's grant or correction, with a reason, recorded in the audit log with who did it, in the same
 * transaction as the ledger change.
 */
export async function adjustCredits(db: Database, input: AdjustCreditsInput, actor: Actor) {
  if (!Number.isSafeInteger(input.delta) || input.delta === 0) {
    throw new CreditsError("invalid_input", "The adjustment must be a whole, non-zero number of credits.");
  }
  const idempotencyKey = internalKey("admin", input.requestId ?? randomUUID());
  return db.transaction(async (tx) => {
    if (input.delta > 0) {
      const grant = await addCredits(tx, {
        userId: input.userId,
        amount: input.delta,
        type: input.delta > 0 ? "grant" : "adjustment",
        description: input.reason,
        idempotencyKey,
        category: input.category ?? "promotional",
        ...(input.expireDays ? { expireDays: input.expireDays } : {}),
        ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
        metadata: { actor: actor.label },
      });
      await recordAudit(tx, actor, "credits.grant", input.userId, {
        amount: input.delta,
        reason: input.reason,
        entryId: grant.entryId,
        ...input.auditDetails,
      });
      return { entryId: grant.entryId, balance: grant.balance };
    }
    const debit = await consumeCredits(tx, {
      type: "adjustment",
      userId: input.userId,
      amount: -input.delta,
      description: input.reason,
      idempotencyKey,
      metadata: { actor: actor.label },
    });
    if (!debit.ok) {
      throw new CreditsError(
        "insufficient_credits",
        `Only ${debit.available} credits are available to take away.`,
      );
    }
    await recordAudit(tx, actor, "credits.deduct", input.userId, {
      amount: -input.delta,
      reason: input.reason,
      entryId: debit.entryId,
      ...input.auditDetails,
    });
    return { entryId: debit.entryId, balance: debit.balance };
  });
}

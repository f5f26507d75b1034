import { auditLog } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export type Actor = { userId: string | null; label: string };

/** Records who did what. Written in the same transaction as the action, so the log cannot miss one. */
export async function recordAudit(
  db: DatabaseOrTransaction,
  actor: Actor,
  action: string,
  targetUserId: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await db
    .insert(auditLog)
    .values({ actorUserId: actor.userId, actorLabel: actor.label, action, targetUserId, details });
}

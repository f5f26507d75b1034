import { desc, eq } from "drizzle-orm";
import { auditLog, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/** The newest admin and API-key actions, with the affected user's email where there is one. */
export async function listAuditLog(db: DatabaseOrTransaction, limit = 100) {
  const rows = await db
    .select({ entry: auditLog, targetEmail: user.email })
    .from(auditLog)
    .leftJoin(user, eq(user.id, auditLog.targetUserId))
    .orderBy(desc(auditLog.createdAt))
    .limit(Math.min(limit, 500));
  return rows.map(({ entry, targetEmail }) => ({
    id: entry.id,
    actor: entry.actorLabel,
    action: entry.action,
    targetUserId: entry.targetUserId,
    targetEmail: targetEmail ?? null,
    details: entry.details,
    createdAt: entry.createdAt.toISOString(),
  }));
}

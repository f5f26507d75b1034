import { and, desc, eq, isNotNull, sql } from "drizzle-orm";
import { auditLog, creditAccount, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * The newest admin and API-key actions, with the affected account's name where there is one: a user's
 * email, or a customer's external id (a customer's email is optional, its external id is not).
 */
export async function listAuditLog(db: DatabaseOrTransaction, limit = 100) {
  const rows = await db
    .select({
      entry: auditLog,
      targetEmail: sql<string | null>`coalesce(${user.email}, ${creditAccount.externalId})`,
    })
    .from(auditLog)
    .leftJoin(user, eq(user.id, auditLog.targetUserId))
    .leftJoin(
      creditAccount,
      and(eq(creditAccount.userId, auditLog.targetUserId), isNotNull(creditAccount.externalId)),
    )
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

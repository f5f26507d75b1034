import { desc } from "drizzle-orm";
import { auditLog } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

export async function listAuditLog(db: DatabaseOrTransaction, limit = 100) {
  const rows = await db.select().from(auditLog).orderBy(desc(auditLog.createdAt)).limit(Math.min(limit, 500));
  return rows.map((row) => ({
    id: row.id,
    actor: row.actorLabel,
    action: row.action,
    targetUserId: row.targetUserId,
    details: row.details,
    createdAt: row.createdAt.toISOString(),
  }));
}

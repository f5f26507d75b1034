import { and, desc, eq, isNotNull, isNull, like, notLike, type SQL, sql } from "drizzle-orm";
import { auditLog, creditAccount, user } from "@/db/schema";
import type { DatabaseOrTransaction } from "@/db/types";

/**
 * Who acted, as the audit log records it:
 * - `admin`: a signed-in administrator in the admin console (the entry names the account; every console
 *   action checks the admin role when it runs, src/actions/safe-action.ts);
 * - `api_key`: a service-API key, recorded as `api-key:<name>` (src/service-api/record-api-use.ts and
 *   the spend's SQL function);
 * - `cli`: the operator's command line (`npm run credits`), recorded as `cli` without an account.
 */
export const AUDIT_ACTOR_KINDS = ["admin", "api_key", "cli"] as const;
export type AuditActorKind = (typeof AUDIT_ACTOR_KINDS)[number];

/** The label prefix of service-API keys' entries (apiKeyActor). */
const API_KEY_LABEL = "api-key:%";

/** The rows of one kind of actor: read from what every entry stores, so old entries are classified too. */
function actorKindIs(kind: AuditActorKind): SQL | undefined {
  switch (kind) {
    case "admin":
      return isNotNull(auditLog.actorUserId);
    case "api_key":
      return and(isNull(auditLog.actorUserId), like(auditLog.actorLabel, API_KEY_LABEL));
    case "cli":
      return and(isNull(auditLog.actorUserId), notLike(auditLog.actorLabel, API_KEY_LABEL));
  }
}

function actorKindOf(entry: { actorUserId: string | null; actorLabel: string }): AuditActorKind {
  if (entry.actorUserId !== null) return "admin";
  return entry.actorLabel.startsWith("api-key:") ? "api_key" : "cli";
}

export type AuditLogFilter = {
  /** Only the entries of this kind of actor (AUDIT_ACTOR_KINDS); all when left out. */
  actorKind?: AuditActorKind;
};

/**
 * The newest admin and API-key actions (at most `limit`, capped at 500), optionally of one kind of actor,
 * with the affected account's name where there is one: a user's email, or a customer's external id (a
 * customer's email is optional, its external id is not). Each entry says its actor's kind.
 */
export async function listAuditLog(db: DatabaseOrTransaction, limit = 100, filter: AuditLogFilter = {}) {
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
    .where(filter.actorKind ? actorKindIs(filter.actorKind) : undefined)
    .orderBy(desc(auditLog.createdAt))
    .limit(Math.min(limit, 500));
  return rows.map(({ entry, targetEmail }) => ({
    id: entry.id,
    actor: entry.actorLabel,
    actorKind: actorKindOf(entry),
    action: entry.action,
    targetUserId: entry.targetUserId,
    targetEmail: targetEmail ?? null,
    details: entry.details,
    createdAt: entry.createdAt.toISOString(),
  }));
}

import { createHash, randomBytes } from "node:crypto";
import { and, desc, eq, isNull, lt, or, sql } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { NotFoundError } from "@/credits/errors";
import { apiKey } from "@/db/schema";
import type { Database } from "@/db/types";

const KEY_PREFIX = "ck_";

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export type ApiKeyView = {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

function toView(row: typeof apiKey.$inferSelect): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** Creates a key and returns it in full: the only time it is ever shown. */
export async function createApiKey(
  db: Database,
  name: string,
  actor: Actor,
): Promise<{ key: string; apiKey: ApiKeyView }> {
  const key = `${KEY_PREFIX}${randomBytes(24).toString("base64url")}`;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiKey)
      .values({ name, prefix: key.slice(0, 10), keyHash: hashApiKey(key), createdBy: actor.userId })
      .returning();
    if (!row) throw new Error("api key was not written");
    await recordAudit(tx, actor, "api_key.create", null, { apiKeyId: row.id, name });
    return { key, apiKey: toView(row) };
  });
}

export async function listApiKeys(db: Database): Promise<ApiKeyView[]> {
  const rows = await db.select().from(apiKey).orderBy(desc(apiKey.createdAt));
  return rows.map(toView);
}

export async function revokeApiKey(db: Database, id: string, actor: Actor): Promise<ApiKeyView> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(apiKey)
      .set({ revokedAt: sql`coalesce(${apiKey.revokedAt}, now())` })
      .where(eq(apiKey.id, id))
      .returning();
    if (!row) throw new NotFoundError("API key");
    await recordAudit(tx, actor, "api_key.revoke", null, { apiKeyId: id, name: row.name });
    return toView(row);
  });
}

/**
 * The key behind an `Authorization: Bearer` header, if it exists and is not revoked. The last-used time
 * is written at most once a minute per key, so a busy key does not turn every read into a write.
 */
export async function authenticateApiKey(
  db: Database,
  key: string,
): Promise<{ id: string; name: string } | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const [row] = await db
    .select({ id: apiKey.id, name: apiKey.name })
    .from(apiKey)
    .where(and(eq(apiKey.keyHash, hashApiKey(key)), isNull(apiKey.revokedAt)));
  if (!row) return null;
  await db
    .update(apiKey)
    .set({ lastUsedAt: sql`now()` })
    .where(
      and(
        eq(apiKey.id, row.id),
        or(isNull(apiKey.lastUsedAt), lt(apiKey.lastUsedAt, sql`now() - interval '1 minute'`)),
      ),
    );
  return row;
}

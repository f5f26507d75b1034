import { createHash, randomBytes } from "node:crypto";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { type Actor, recordAudit } from "@/audit/record-audit";
import { InvalidInputError, NotFoundError } from "@/credits/errors";
import { isStorableText } from "@/credits/schemas";
import { apiKey } from "@/db/schema";
import type { Database } from "@/db/types";
import { processSlot } from "@/lib/process-registry";
import { ALL_API_SCOPES, type ApiScope, apiScopesSchema } from "./api-scopes";

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
  /** What the key may do, in the order of API_SCOPES (src/service-api/api-scopes.ts). */
  scopes: string[];
};

function toView(row: typeof apiKey.$inferSelect): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    scopes: row.scopes,
  };
}

/**
 * Creates a key with `scopes` (at least one; stored in the order of API_SCOPES) and returns it in full: the
 * only time it is ever shown. The operator surfaces (admin console, CLI) always pass the operator's choice,
 * DEFAULT_API_SCOPES unless changed; a caller that names none (tests, seeds) gets every scope. A name
 * PostgreSQL cannot store (U+0000, an unpaired surrogate) or an empty or unknown scope is refused with
 * invalid_input, whichever surface it came from.
 */
export async function createApiKey(
  db: Database,
  name: string,
  actor: Actor,
  scopes: readonly ApiScope[] = ALL_API_SCOPES,
): Promise<{ key: string; apiKey: ApiKeyView }> {
  if (!isStorableText(name))
    throw new InvalidInputError("The API key's name contains text that cannot be stored.");
  const parsedScopes = apiScopesSchema.safeParse(scopes);
  if (!parsedScopes.success)
    throw new InvalidInputError("Choose at least one of the scopes read, spend, grant, holds, admin.");
  const key = `${KEY_PREFIX}${randomBytes(24).toString("base64url")}`;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiKey)
      .values({
        name,
        prefix: key.slice(0, 10),
        keyHash: hashApiKey(key),
        createdBy: actor.userId,
        scopes: parsedScopes.data,
      })
      .returning();
    if (!row) throw new Error("api key was not written");
    await recordAudit(tx, actor, "api_key.create", null, {
      apiKeyId: row.id,
      name,
      scopes: parsedScopes.data,
    });
    return { key, apiKey: toView(row) };
  });
}

export async function listApiKeys(db: Database): Promise<ApiKeyView[]> {
  const rows = await db.select().from(apiKey).orderBy(desc(apiKey.createdAt));
  return rows.map(toView);
}

export async function revokeApiKey(db: Database, id: string, actor: Actor): Promise<ApiKeyView> {
  const revoked = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(apiKey)
      .set({ revokedAt: sql`coalesce(${apiKey.revokedAt}, now())` })
      .where(eq(apiKey.id, id))
      .returning();
    if (!row) throw new NotFoundError("API key");
    forgetVerifiedApiKeys();
    await recordAudit(tx, actor, "api_key.revoke", null, { apiKeyId: id, name: row.name });
    return toView(row);
  });
  // Again once committed: a request that read the key while the revocation was still uncommitted must
  // not have left it trusted (authenticateApiKey caches only what it read in the same generation).
  forgetVerifiedApiKeys();
  return revoked;
}

/** How long a verified key is trusted without asking the database again (a revocation elsewhere takes this long). */
const AUTH_CACHE_MS = 10_000;
/** The last-used time is written at most this often per key, so a busy key does not turn reads into writes. */
const LAST_USED_WRITE_MS = 60_000;

type VerifiedKey = { id: string; name: string; scopes: string[] };
type CachedKey = VerifiedKey & { verifiedAt: number };
type KeyCache = {
  verifiedKeys: Map<string, CachedKey>;
  lastUsedWrites: Map<string, number>;
  /** Moves on every forget: a key read before a forget is not cached after it. */
  generation: { value: number };
};
// One cache per process (src/lib/process-registry.ts): a revocation through any copy of this module must
// clear the one cache.
const { verifiedKeys, lastUsedWrites, generation } = processSlot<KeyCache>("apiKeyCache", () => ({
  verifiedKeys: new Map(),
  lastUsedWrites: new Map(),
  generation: { value: 0 },
}));

/**
 * The key behind an `Authorization: Bearer` header (its id, name and scopes), if it exists and is not
 * revoked. A verified key is
 * remembered for a few seconds per process, and its last-used time is recorded in the background at most
 * once a minute: the hot path of the service API then needs no query for authentication.
 */
export async function authenticateApiKey(db: Database, key: string): Promise<VerifiedKey | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const hash = hashApiKey(key);
  const now = Date.now();
  let found: VerifiedKey | undefined = verifiedKeys.get(hash);
  if (!found || now - (found as CachedKey).verifiedAt > AUTH_CACHE_MS) {
    const readIn = generation.value;
    [found] = await db
      .select({ id: apiKey.id, name: apiKey.name, scopes: apiKey.scopes })
      .from(apiKey)
      .where(and(eq(apiKey.keyHash, hash), isNull(apiKey.revokedAt)));
    if (!found) {
      verifiedKeys.delete(hash);
      return null;
    }
    // Only if no revocation cleared the cache while this read ran: what it read may be from before the
    // revocation committed, good for this one request at most, never for the next ten seconds.
    if (generation.value === readIn) verifiedKeys.set(hash, { ...found, verifiedAt: now });
  }
  const key_ = found;
  if (now - (lastUsedWrites.get(key_.id) ?? 0) > LAST_USED_WRITE_MS) {
    lastUsedWrites.set(key_.id, now);
    db.update(apiKey)
      .set({ lastUsedAt: sql`now()` })
      .where(eq(apiKey.id, key_.id))
      .catch(() => lastUsedWrites.delete(key_.id));
  }
  return { id: key_.id, name: key_.name, scopes: key_.scopes };
}

/** Forgets verified keys at once (a revocation in this process must not wait for the cache). */
export function forgetVerifiedApiKeys(): void {
  generation.value += 1;
  verifiedKeys.clear();
}

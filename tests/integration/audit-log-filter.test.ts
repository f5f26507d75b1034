import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adjustCredits } from "../../src/admin/adjust-credits";
import { AUDIT_ACTOR_KINDS, listAuditLog } from "../../src/admin/list-audit-log";
import { useDatabaseConnection } from "../../src/db/client";
import { createApiKey } from "../../src/service-api/api-keys";
import { v1 } from "../support/api-v1";
import { assertLedgerInvariants } from "../support/invariants";
import { seedUser } from "../support/seed";
import { configureServerEnv } from "../support/server-env";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/test-database";

/**
 * Admin → Audit filtered by who acted: an administrator in the console, a service-API key (its routes and
 * the spend's SQL function write the entries), or the command line. Each entry is classified from what it
 * stores, so the filter needs nothing new written.
 */
const serverEnv = configureServerEnv({ RATE_LIMIT_API_PER_MINUTE: "100000" });
afterAll(() => serverEnv.cleanup());

describe.each(databaseKinds())("the audit log by kind of actor on %s", (kind) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    useDatabaseConnection(database);
  });
  afterAll(async () => {
    if (!database) return;
    await assertLedgerInvariants(database.db);
    await database.close();
  });

  it("lists only the admin console's, the API keys' or the command line's entries when asked", async () => {
    const adminId = await seedUser(database.db, { email: "ops@example.test", role: "admin" });
    const userId = await seedUser(database.db);
    const signedInAdmin = { userId: adminId, label: "ops@example.test" };
    const cli = { userId: null, label: "cli" };

    // The command line makes a key (api_key.create); the console grants; the key grants and spends.
    const { key } = await createApiKey(database.db, "billing-backend", cli);
    await adjustCredits(
      database.db,
      { userId, delta: 40, reason: "goodwill", requestId: randomUUID() },
      signedInAdmin,
    );
    expect((await v1.grant(userId, { key, json: { amount: 10 } })).status).toBe(201);
    expect((await v1.consume(userId, { key, json: { amount: 3 } })).status).toBe(200);

    const all = await listAuditLog(database.db, 500);
    expect(all.map((entry) => [entry.actorKind, entry.actor, entry.action]).sort()).toEqual(
      [
        ["admin", "ops@example.test", "credits.grant"],
        ["api_key", "api-key:billing-backend", "credits.consume"],
        ["api_key", "api-key:billing-backend", "credits.grant"],
        ["cli", "cli", "api_key.create"],
      ].sort(),
    );

    const admin = await listAuditLog(database.db, 500, { actorKind: "admin" });
    expect(admin.map((entry) => [entry.actor, entry.action])).toEqual([
      ["ops@example.test", "credits.grant"],
    ]);
    const apiKeys = await listAuditLog(database.db, 500, { actorKind: "api_key" });
    expect(apiKeys.map((entry) => entry.action).sort()).toEqual(["credits.consume", "credits.grant"]);
    expect(new Set(apiKeys.map((entry) => entry.actor))).toEqual(new Set(["api-key:billing-backend"]));
    const commandLine = await listAuditLog(database.db, 500, { actorKind: "cli" });
    expect(commandLine.map((entry) => [entry.actor, entry.action])).toEqual([["cli", "api_key.create"]]);

    // The kinds split the log: every entry is in exactly one.
    const byKind = await Promise.all(
      AUDIT_ACTOR_KINDS.map((actorKind) => listAuditLog(database.db, 500, { actorKind })),
    );
    expect(
      byKind
        .flat()
        .map((entry) => entry.id)
        .sort(),
    ).toEqual(all.map((entry) => entry.id).sort());
  });
});

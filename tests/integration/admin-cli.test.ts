import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase, type DatabaseConnection } from "../../src/db/connect";
import { auditLog, user } from "../../src/db/schema";
import { PGLITE_SNAPSHOT_FILE } from "../support/paths";

/**
 * `npm run credits -- admin grant|revoke --email X`, run as an operator runs it: a separate process on the
 * embedded database under DATA_DIR (the app is not running).
 */
// Each command is a process of its own that opens the embedded database: seconds apiece.
describe("admin roles on the command line", { timeout: 180_000 }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-admin-cli-"));
  const pgliteDir = path.join(dataDir, "pglite");

  /** Opens the data folder in this process, runs `work`, and closes it again so the CLI can open it. */
  async function withData<T>(work: (db: DatabaseConnection["db"]) => Promise<T>): Promise<T> {
    const connection = await connectDatabase({ kind: "pglite", dataDir: pgliteDir, migrate: false });
    try {
      return await work(connection.db);
    } finally {
      await connection.close();
    }
  }

  function credits(...args: string[]) {
    const result = spawnSync(path.join("node_modules", ".bin", "tsx"), ["scripts/credits.ts", ...args], {
      encoding: "utf8",
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", ADMIN_EMAILS: "", LOG_LEVEL: "warn" },
      timeout: 60_000,
    });
    return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
  }

  beforeAll(async () => {
    const snapshot = new Blob([fs.readFileSync(PGLITE_SNAPSHOT_FILE)]);
    const seeded = await connectDatabase({
      kind: "pglite",
      dataDir: pgliteDir,
      loadDataDir: snapshot,
      migrate: false,
    });
    await seeded.db.insert(user).values([
      { id: "ops", name: "Ops", email: "ops@example.test", emailVerified: true },
      { id: "fresh", name: "Fresh", email: "fresh@example.test", emailVerified: false },
    ]);
    await seeded.close();
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("grants and revokes the stored role, audited with actor cli", async () => {
    const granted = credits("admin", "grant", "--email", "OPS@example.test");
    expect(granted.stderr).toBe("");
    expect(granted.status).toBe(0);
    expect(granted.stdout).toContain("granted the admin role to ops@example.test");
    expect(granted.stdout).toContain("admin now: yes");
    expect(
      await withData(async (db) => (await db.select().from(user).where(eq(user.id, "ops")))[0]?.role),
    ).toBe("admin");

    const revoked = credits("admin", "revoke", "--email", "ops@example.test");
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toContain("admin now: no");

    const { role, audit } = await withData(async (db) => ({
      role: (await db.select().from(user).where(eq(user.id, "ops")))[0]?.role,
      audit: await db
        .select()
        .from(auditLog)
        .where(eq(auditLog.targetUserId, "ops"))
        .orderBy(auditLog.createdAt),
    }));
    expect(role).toBe("user");
    expect(audit.map((entry) => [entry.action, entry.actorLabel, entry.actorUserId])).toEqual([
      ["admin.grant", "cli", null],
      ["admin.revoke", "cli", null],
    ]);
  });

  it("a role granted to an unverified address does not count until the address is verified", () => {
    const granted = credits("admin", "grant", "--email", "fresh@example.test");
    expect(granted.status).toBe(0);
    expect(granted.stdout).toContain("it takes effect once the address is verified");
    expect(granted.stdout).toContain("admin now: no");
  });

  it("an unknown email is a one-line error and a non-zero exit, and changes nothing", async () => {
    const before = await withData((db) => db.select().from(auditLog));
    const result = credits("admin", "grant", "--email", "nobody@example.test");
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("nobody@example.test");
    expect(await withData((db) => db.select().from(auditLog))).toHaveLength(before.length);
  });
});

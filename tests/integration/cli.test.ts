import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getBalance } from "../../src/credits/get-balance";
import { upsertCustomer } from "../../src/credits/upsert-customer";
import { connectDatabase } from "../../src/db/connect";
import { apiKey, auditLog, creditAccount } from "../../src/db/schema";
import type { Database } from "../../src/db/types";
import { PGLITE_SNAPSHOT_FILE, testDatabaseUrl } from "../support/paths";
import { type Finished, REPO_ROOT, runCli } from "../support/processes";
import { seedUser } from "../support/seed";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * The operators' CLI, spawned as `npm run credits` runs it: strict options with one-line errors and
 * exit status 1, an idempotent `grant`, and the same configuration files as the app.
 */

const made: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-cli-"));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function output(result: Finished): string {
  return `${result.stdout}${result.stderr}`;
}

/** Refused: status 1, nothing on stdout, one line on stderr containing `message`. */
function expectOneLineRefusal(result: Finished, message: string): void {
  const all = output(result);
  expect(result.code, all).toBe(1);
  expect(result.stdout.trim(), all).toBe("");
  expect(result.stderr.trim().split("\n"), all).toHaveLength(1);
  expect(result.stderr, all).toContain(message);
}

/** The embedded database under `dataDir`, opened by this process only while `work` runs. */
async function withEmbedded<T>(dataDir: string, work: (db: Database) => Promise<T>): Promise<T> {
  const snapshot = path.join(dataDir, "pglite");
  const fresh = !fs.existsSync(snapshot);
  const connection = await connectDatabase({
    kind: "pglite",
    dataDir: snapshot,
    ...(fresh ? { loadDataDir: new Blob([fs.readFileSync(PGLITE_SNAPSHOT_FILE)]) } : {}),
    migrate: false,
  });
  try {
    return await work(connection.db);
  } finally {
    await connection.close();
  }
}

describe("options are parsed strictly, before anything is opened", { timeout: 180_000 }, () => {
  const dataDir = tempDir();
  const grant = (overrides: Record<string, string>) => {
    const options = {
      "--user": "someone",
      "--amount": "5",
      "--reason": "support",
      "--key": "t-1",
      ...overrides,
    };
    return runCli(["grant", ...Object.entries(options).flat()], {
      DATA_DIR: dataDir,
    });
  };

  it("grant --amount takes plain decimal digits within bounds only", async () => {
    const amounts = ["0x10", "1e3", "16.0", "-5", "+5", " 16", "0", "1000000001", "99999999999999999999999"];
    const results = await Promise.all(amounts.map((amount) => grant({ "--amount": amount })));
    for (const result of results) {
      expectOneLineRefusal(result, "--amount must be a whole number from 1 to 1000000000 in decimal digits");
    }
  });

  it("grant --expire-days is a bounded decimal too", async () => {
    expectOneLineRefusal(await grant({ "--expire-days": "0x1f" }), "--expire-days must be a whole number");
  });

  it("blank or over-long text is refused", async () => {
    const [blank, long] = await Promise.all([
      grant({ "--reason": "   " }),
      grant({ "--key": "k".repeat(256) }),
    ]);
    expectOneLineRefusal(blank, "--reason must not be empty");
    // The same rule as every Idempotency-Key: 1-255 characters of the documented alphabet.
    expectOneLineRefusal(long, "--key: an idempotency key is 1-255 letters");
  });

  it("a huge --since is a one-line error, not an invalid date", async () => {
    const result = await runCli(["reconcile", "--since", "99999999999d"], { DATA_DIR: dataDir });
    expectOneLineRefusal(result, "--since must be a duration from 1s to 3650d");
    expect(output(result)).not.toContain("Invalid time value");
  });

  it("grant without --key is refused: every grant carries an idempotency key", async () => {
    const result = await runCli(["grant", "--user", "u", "--amount", "5", "--reason", "r"], {
      DATA_DIR: dataDir,
    });
    expect(result.code, output(result)).toBe(1);
    expect(result.stderr).toContain("--key");
  });

  it("nothing was opened or written by the refusals", () => {
    expect(fs.existsSync(path.join(dataDir, "pglite"))).toBe(false);
  });
});

describe("grant", { timeout: 180_000 }, () => {
  const dataDir = tempDir();
  let userId: string;
  beforeAll(async () => {
    userId = await withEmbedded(dataDir, (db) => seedUser(db));
  });

  it("an unknown --user is named in one line, without SQL or its parameters", async () => {
    const result = await runCli(
      ["grant", "--user", "no-such-user", "--amount", "5", "--reason", "support", "--key", "t-unknown"],
      { DATA_DIR: dataDir },
    );
    expectOneLineRefusal(result, '--user: no user has the id "no-such-user"');
    expect(output(result)).not.toMatch(/params|insert|select|Failed query/i);
  });

  it("is idempotent by --key: the repeat reports the first grant, other arguments are refused", {
    timeout: 240_000,
  }, async () => {
    const args = ["grant", "--user", userId, "--amount", "40", "--reason", "goodwill", "--key", "ticket-7"];
    const first = await runCli(args, { DATA_DIR: dataDir });
    expect(first.code, output(first)).toBe(0);
    expect(first.stdout).toMatch(/granted 40 credits; entry (\d+), balance 40/);
    const entryId = /entry (\d+)/.exec(first.stdout)?.[1];

    const repeat = await runCli(args, { DATA_DIR: dataDir });
    expect(repeat.code, output(repeat)).toBe(0);
    expect(repeat.stdout).toContain(`already granted with key "ticket-7": entry ${entryId}`);

    const changed = await runCli(
      ["grant", "--user", userId, "--amount", "400", "--reason", "goodwill", "--key", "ticket-7"],
      { DATA_DIR: dataDir },
    );
    expectOneLineRefusal(changed, "already used with different parameters");

    await withEmbedded(dataDir, async (db) => {
      expect((await getBalance(db, userId)).balance).toBe(40);
      const audited = await db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetUserId, userId), eq(auditLog.action, "credits.grant")));
      expect(audited).toHaveLength(1);
    });
  });
});

describe("grant --customer <externalId>", { timeout: 240_000 }, () => {
  const dataDir = tempDir();
  const externalId = "acme|user:42";
  let accountId: string;
  beforeAll(async () => {
    accountId = await withEmbedded(dataDir, async (db) => {
      await seedUser(db);
      return (await upsertCustomer(db, externalId, { name: "Acme user" })).customer.userId;
    });
  });

  it("grants to the customer with this external id, and never creates one for an unknown or invalid id", async () => {
    const granted = await runCli(
      ["grant", "--customer", externalId, "--amount", "7", "--reason", "support", "--key", "c-1"],
      { DATA_DIR: dataDir },
    );
    expect(granted.code, output(granted)).toBe(0);
    expect(granted.stdout).toMatch(/granted 7 credits; entry \d+, balance 7/);

    // One at a time: the embedded database takes one process.
    const unknown = await runCli(
      ["grant", "--customer", "acme|user:43", "--amount", "7", "--reason", "r", "--key", "c-2"],
      { DATA_DIR: dataDir },
    );
    const invalid = await runCli(
      ["grant", "--customer", "has space", "--amount", "7", "--reason", "r", "--key", "c-3"],
      { DATA_DIR: dataDir },
    );
    const both = await runCli(
      [
        "grant",
        "--user",
        accountId,
        "--customer",
        externalId,
        "--amount",
        "7",
        "--reason",
        "r",
        "--key",
        "c-4",
      ],
      { DATA_DIR: dataDir },
    );
    expectOneLineRefusal(unknown, '--customer: no customer has the external id "acme|user:43"');
    expectOneLineRefusal(invalid, "--customer: an external id is 1-255 characters");
    expectOneLineRefusal(both, "exactly one of --user <userId> or --customer <externalId>");

    await withEmbedded(dataDir, async (db) => {
      expect((await getBalance(db, accountId)).balance).toBe(7);
      expect(
        await db.select().from(creditAccount).where(eq(creditAccount.externalId, "acme|user:43")),
      ).toEqual([]);
      const audited = await db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.targetUserId, accountId), eq(auditLog.action, "credits.grant")));
      expect(audited).toHaveLength(1);
    });
  });
});

describe.skipIf(!testDatabaseUrl())("configuration files", { timeout: 180_000 }, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await database?.close();
  });

  it("DATABASE_URL in .env.local is the database the CLI uses, as the app does", async () => {
    // A checkout of its own: the CLI reads .env.local from the directory it runs in, like `npm run credits`.
    const project = tempDir();
    for (const name of ["src", "node_modules", "tsconfig.json", "package.json"]) {
      fs.symlinkSync(path.join(REPO_ROOT, name), path.join(project, name));
    }
    fs.writeFileSync(path.join(project, ".env.local"), `DATABASE_URL=${database.url}\n`);
    // Before, the CLI ignored .env.local and made this key in an embedded database of its own, where the
    // app (on PostgreSQL) never finds it: every request with it was answered 401.
    const result = await runCli(
      ["api-key", "create", "--name", "from-env-local"],
      { DATABASE_URL: undefined },
      {
        cwd: project,
      },
    );
    expect(result.code, output(result)).toBe(0);
    const keys = await database.db.select().from(apiKey).where(eq(apiKey.name, "from-env-local"));
    expect(keys).toHaveLength(1);
    expect(fs.existsSync(path.join(project, ".data", "pglite")), "no embedded database was made").toBe(false);
  });
});

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase, type DatabaseConnection } from "../../src/db/connect";
import { PGLITE_SNAPSHOT_FILE, testDatabaseUrl } from "../support/paths";
import { type Finished, runCli, runStart } from "../support/processes";

/**
 * `npm start` and the CLI with a configuration or a database they cannot work with: each must say what
 * is wrong once, in words (no stack trace), exit with status 1, and never get as far as listening.
 * These failures happen before Next.js loads its build, so the real scripts/start.mjs runs here with
 * SKIP_BUILD=1 and no build.
 */

const made: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "creditkit-startup-"));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function output(result: Finished): string {
  return `${result.stdout}${result.stderr}`;
}

function expectRefusedToStart(result: Finished, ...mentions: string[]): void {
  const all = output(result);
  expect(result.signal, `it did not exit by itself:\n${all}`).toBeNull();
  expect(result.code, all).toBe(1);
  expect(all.match(/creditkit cannot start/g), all).toHaveLength(1);
  for (const mention of mentions) expect(result.stderr, all).toContain(mention);
  expect(all, "it printed a stack trace").not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(all, "it got as far as serving").not.toMatch(/listening on|creditkit is ready/);
}

/** A migrated embedded database folder in a fresh DATA_DIR, restored from the suite's snapshot. */
async function embeddedDatabase(dataDir: string): Promise<DatabaseConnection> {
  return connectDatabase({
    kind: "pglite",
    dataDir: path.join(dataDir, "pglite"),
    loadDataDir: new Blob([fs.readFileSync(PGLITE_SNAPSHOT_FILE)]),
    migrate: false,
  });
}

describe("npm start refuses a bad configuration before it listens", { timeout: 180_000 }, () => {
  it("a Stripe secret key without its webhook secret and publishable key", async () => {
    const result = await runStart({ DATA_DIR: tempDir(), STRIPE_SECRET_KEY: "sk_test_123" });
    expectRefusedToStart(result, "STRIPE_WEBHOOK_SECRET", "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY");
  });

  it("a short auth secret and malformed numbers, all named in one message", async () => {
    const result = await runStart({
      DATA_DIR: tempDir(),
      BETTER_AUTH_SECRET: "too-short",
      RATE_LIMIT_API_PER_MINUTE: "lots",
      RATE_LIMIT_PURCHASES_PER_MINUTE: "0x10",
      SIGNUP_GIFT_CREDITS: "1e3",
    });
    expectRefusedToStart(
      result,
      "BETTER_AUTH_SECRET",
      "RATE_LIMIT_API_PER_MINUTE",
      'RATE_LIMIT_PURCHASES_PER_MINUTE: must be a whole number from 0 to 1000000000 in decimal digits, got "0x10"',
      "SIGNUP_GIFT_CREDITS",
    );
  });

  it("the payment sandbox at a public URL, naming the missing Stripe settings and the opt-in", async () => {
    const result = await runStart({ DATA_DIR: tempDir(), BETTER_AUTH_URL: "https://credits.example.com" });
    expectRefusedToStart(
      result,
      "PAYMENT_PROVIDER",
      "STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
      "PAYMENT_PROVIDER=sandbox",
    );
  });

  it("PAYMENT_PROVIDER=stripe without keys", async () => {
    const result = await runStart({ DATA_DIR: tempDir(), PAYMENT_PROVIDER: "stripe" });
    expectRefusedToStart(result, "STRIPE_SECRET_KEY: required with PAYMENT_PROVIDER=stripe");
  });

  it("a LOG_LEVEL pino does not know, in the same one message (no stack trace from the logger)", async () => {
    const result = await runStart({ DATA_DIR: tempDir(), LOG_LEVEL: "loud" });
    expectRefusedToStart(result, "LOG_LEVEL");
  });

  it("the zero-configuration sandbox asked to listen on an address other machines reach", async () => {
    const result = await runStart({ DATA_DIR: tempDir(), HOST: "0.0.0.0" });
    expectRefusedToStart(result, "HOST: is 0.0.0.0", "PAYMENT_PROVIDER=sandbox");
  });

  it("ADMIN_EMAILS that is not a comma-separated list of addresses", async () => {
    const result = await runStart({
      DATA_DIR: tempDir(),
      ADMIN_EMAILS: "boss@example.test;ops@example.test",
    });
    expectRefusedToStart(result, "ADMIN_EMAILS: must be email addresses separated by commas");
  });

  it("mail settings that would send nothing", async () => {
    const result = await runStart({
      DATA_DIR: tempDir(),
      SMTP_USER: "mailer",
      SMTP_PASSWORD: "secret",
      SMTP_PORT: "587",
    });
    expectRefusedToStart(result, "SMTP_HOST: required when SMTP_PORT, SMTP_USER, SMTP_PASSWORD are set");
    const noSender = await runStart({ DATA_DIR: tempDir(), SMTP_HOST: "smtp.example.test" });
    expectRefusedToStart(noSender, "EMAIL_FROM: required with SMTP");
  });

  it.skipIf(!testDatabaseUrl())("a DATABASE_URL naming a database that does not exist", async () => {
    const url = new URL(testDatabaseUrl() ?? "");
    url.pathname = `/creditkit_missing_${process.pid}`;
    url.password = "hunter2-secret";
    const result = await runStart({ DATA_DIR: tempDir(), DATABASE_URL: url.toString() });
    expectRefusedToStart(result, "DATABASE_URL", "does not exist");
    expect(output(result)).not.toContain("hunter2-secret");
  });
});

describe("one process per embedded database", { timeout: 180_000 }, () => {
  let dataDir: string;
  let holder: DatabaseConnection | undefined;
  beforeAll(async () => {
    dataDir = tempDir();
    holder = await embeddedDatabase(dataDir);
  });
  afterAll(async () => {
    await holder?.close();
  });

  it("a second server on the same data folder stops at once, naming the process that holds it", async () => {
    const result = await runStart({ DATA_DIR: dataDir });
    expectRefusedToStart(result, `in use by process ${process.pid}`, "pglite.lock", "DATABASE_URL");
  });

  it("the CLI beside a process holding the embedded database refuses in one line", async () => {
    const result = await runCli(["verify"], { DATA_DIR: dataDir });
    expect(result.code, output(result)).toBe(1);
    expect(result.stderr.trim().split("\n"), output(result)).toHaveLength(1);
    expect(result.stderr).toContain(`in use by process ${process.pid}`);
    expect(result.stdout).not.toContain("accounts");
  });

  it("a lock left by a process that is gone is taken over", { timeout: 180_000 }, async () => {
    const staleDir = tempDir();
    await (await embeddedDatabase(staleDir)).close();
    const gone = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
    const lockFile = path.join(staleDir, "pglite.lock");
    fs.writeFileSync(
      lockFile,
      JSON.stringify({
        pid: Number(gone.stdout.trim()),
        hostname: os.hostname(),
        bootId: null,
        processStart: null,
        command: "node scripts/start.mjs",
        port: "3000",
        since: new Date().toISOString(),
      }),
    );
    const result = await runCli(["verify"], { DATA_DIR: staleDir });
    expect(result.code, output(result)).toBe(0);
    expect(result.stdout).toContain("0 violations");
    expect(fs.existsSync(lockFile), "the CLI gives the lock back when it exits").toBe(false);
  });
});

describe("a damaged data folder", { timeout: 180_000 }, () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = tempDir();
    await (await embeddedDatabase(dataDir)).close();
    // What two processes writing one folder left behind in the issue: PostgreSQL's control file unreadable.
    fs.writeFileSync(path.join(dataDir, "pglite", "global", "pg_control"), "not a control file");
  });

  it("npm start says it cannot open it and how to recover, and exits", async () => {
    const result = await runStart({ DATA_DIR: dataDir });
    expectRefusedToStart(
      result,
      "Cannot open the embedded database",
      "move it aside",
      "Troubleshooting the embedded database",
    );
    expect(fs.existsSync(path.join(dataDir, "pglite.lock")), "no lock is left behind").toBe(false);
  });

  it("the CLI says the same in one line", async () => {
    const result = await runCli(["verify"], { DATA_DIR: dataDir });
    expect(result.code, output(result)).toBe(1);
    expect(result.stderr.trim().split("\n"), output(result)).toHaveLength(1);
    expect(result.stderr).toContain("Cannot open the embedded database");
  });
});

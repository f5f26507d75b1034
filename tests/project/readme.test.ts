import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDIT_PACKAGES } from "../../src/catalog/packages";
import { useDatabaseConnection } from "../../src/db/client";
import { seedUser } from "../support/seed";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

const root = path.resolve(import.meta.dirname, "../..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");

/** The README's code block under a heading, exactly as a reader copies it. */
function codeBlockUnder(heading: string, language: string): string {
  const section = readme.slice(readme.indexOf(heading));
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(section);
  if (!match?.[1]) throw new Error(`no ${language} block under ${heading}`);
  return match[1];
}

describe("the README", () => {
  let database: TestDatabase;
  const snippetFile = path.join(root, "tests", "project", ".readme-snippet.generated.ts");

  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    useDatabaseConnection(database);
  });
  afterAll(async () => {
    fs.rmSync(snippetFile, { force: true });
    await database.close();
  });

  // An adopter's first contact with the core: it must run as written, imports included.
  it("has a ledger snippet that runs as written", async () => {
    fs.writeFileSync(snippetFile, codeBlockUnder("## Using the ledger from code", "ts"));
    const { runJob } = (await import(snippetFile)) as {
      runJob: (
        userId: string,
        jobId: string,
      ) => Promise<{ ok: boolean; balance?: number; items?: unknown[] }>;
    };
    const userId = await seedUser(database.db);

    const first = await runJob(userId, "job-1");
    const again = await runJob(userId, "job-1");
    const next = await runJob(userId, "job-2");

    expect(first).toMatchObject({ ok: true, balance: 95 });
    expect(again).toMatchObject({ ok: true, balance: 95 });
    expect(next).toMatchObject({ ok: true, balance: 90 });
    expect(next.items).toHaveLength(3);
  });

  // The README says a new package needs its message keys; every package in the catalog must have them.
  it("names message keys that exist for every package, in every language", () => {
    for (const file of fs.readdirSync(path.join(root, "messages"))) {
      const messages = JSON.parse(fs.readFileSync(path.join(root, "messages", file), "utf8")) as {
        packages: Record<string, { name?: string; description?: string }>;
      };
      for (const pkg of CREDIT_PACKAGES) {
        expect(messages.packages[pkg.id]?.name, `${file}: packages.${pkg.id}.name`).toBeTruthy();
        expect(`packages.${pkg.id}.description`, `${file}`).toBe(pkg.description);
        expect(messages.packages[pkg.id]?.description, `${file}: ${pkg.description}`).toBeTruthy();
      }
    }
  });
});

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { postgresAdminUrl, REPO_ROOT } from "./paths";

/**
 * The fault tests run the production server, so they need a build: made here once if `.next/BUILD_ID`
 * is missing (an existing build is used as is, as CI's `next build` leaves it). PostgreSQL must be up.
 */
export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: postgresAdminUrl(), connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`The fault tests need PostgreSQL at ${postgresAdminUrl()}: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }

  if (fs.existsSync(path.join(REPO_ROOT, ".next", "BUILD_ID"))) return;
  console.log("fault tests: no production build (.next/BUILD_ID), running `npx next build`...");
  const build = spawnSync("npx", ["next", "build"], {
    cwd: REPO_ROOT,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
    timeout: 600_000,
  });
  if (build.status !== 0) throw new Error(`next build failed (status ${build.status ?? build.signal})`);
}

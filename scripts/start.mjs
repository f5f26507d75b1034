#!/usr/bin/env node
// `npm start`: builds the app when there is no build yet (or the sources changed since), then serves it on
// PORT (default 3000); the server checks the configuration and opens the database before it listens.
// No environment is needed: the embedded database
// and the payment sandbox are the defaults, and local secrets are generated under .data/ on first start.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);
process.env.NEXT_TELEMETRY_DISABLED = "1";
// Before the .env files are read: `npm start` serves a production build, so it reads what `next start`
// reads (.env.production.local, .env.local, .env.production, .env).
process.env.NODE_ENV = "production";

// A bad configuration or a database that cannot be opened stops here, before a minute of building: the
// check (src/config/preflight.ts, compiled to plain JavaScript) runs in a process of its own and exits 1
// with one message naming every bad variable, or the database's problem.
const { compileTools, newestModification, toolPath, toolsAreStale } = await import("./compile-tools.mjs");
if (toolsAreStale(["preflight"])) {
  try {
    await compileTools(["preflight"]);
  } catch (error) {
    console.error(`creditkit cannot start: compiling the start-up check into dist/ failed: ${error.message}`);
    process.exit(1);
  }
}
const preflight = spawnSync(process.execPath, [toolPath("preflight"), root], {
  cwd: root,
  stdio: "inherit",
  // The server says the same things at info level a moment later; here only warnings and failures.
  env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || "warn" },
});
if (preflight.status !== 0) process.exit(preflight.status ?? 1);

const buildId = path.join(root, ".next", "BUILD_ID");

const newestSource = newestModification(["src", "messages", "public", "package-lock.json", "next.config.ts"]);
const needsBuild = !fs.existsSync(buildId) || fs.statSync(buildId).mtimeMs < newestSource;
if (needsBuild && process.env.SKIP_BUILD !== "1") {
  console.log("creditkit: building the app (first start or sources changed)...");
  const build = spawnSync("npx", ["next", "build"], { stdio: "inherit", env: process.env });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// Serves in this process (scripts/server.mjs): Next.js for the pages, the app's routes for /api.
await import("./server.mjs");

#!/usr/bin/env node
// `npm start`: checks the configuration, builds the app when there is no build yet (or the sources
// changed since), then serves it on PORT (default 3000). No environment is needed: the embedded database
// and the payment sandbox are the defaults, and local secrets are generated under .data/ on first start.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);
process.env.NEXT_TELEMETRY_DISABLED = "1";
// Before the .env files are read: `npm start` serves a production build, so it reads what `next start`
// reads (.env.production.local, .env.local, .env.production, .env).
process.env.NODE_ENV = "production";

// The configuration modules are TypeScript, compiled by tsx as they load (as in scripts/server.mjs).
await import("tsx");
const require = createRequire(import.meta.url);
require("../src/config/load-project-env.ts").loadProjectEnv(root);
// A bad configuration stops here, before a minute of building: one message naming every bad variable.
const { serverConfigurationProblems, ConfigurationError } = require("../src/config/env.ts");
const problems = serverConfigurationProblems();
if (problems.length > 0) {
  const { startupFailureMessage } = require("../src/config/prepare-server.ts");
  console.error(startupFailureMessage(new ConfigurationError(problems)));
  process.exit(1);
}

const buildId = path.join(root, ".next", "BUILD_ID");

function newestSourceTime() {
  let newest = 0;
  const visit = (target) => {
    if (!fs.existsSync(target)) return;
    const stat = fs.statSync(target);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(path.join(target, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const target of ["src", "messages", "public", "package-lock.json", "next.config.ts"])
    visit(path.join(root, target));
  return newest;
}

const needsBuild = !fs.existsSync(buildId) || fs.statSync(buildId).mtimeMs < newestSourceTime();
if (needsBuild && process.env.SKIP_BUILD !== "1") {
  console.log("creditkit: building the app (first start or sources changed)...");
  const build = spawnSync("npx", ["next", "build"], { stdio: "inherit", env: process.env });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// Serves in this process (scripts/server.mjs): Next.js for the pages, the service API and the webhook beside it.
await import("./server.mjs");

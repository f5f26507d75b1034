#!/usr/bin/env node
// `npm start`: builds the app when there is no build yet (or the sources changed since), then serves it
// on PORT (default 3000). No environment is needed: the embedded database and the payment sandbox are
// the defaults, and local secrets are generated under .data/ on first start.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);
process.env.NEXT_TELEMETRY_DISABLED = "1";
const port = process.env.PORT || "3000";
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
process.env.NODE_ENV = "production";
process.env.PORT = port;
await import("./server.mjs");

#!/usr/bin/env node
// `npm test`: every test. Unit and integration tests (Vitest; on PostgreSQL too when TEST_DATABASE_URL
// is set), then the end-to-end tests (Playwright with the system's Chromium against a production build).
// Ends with one line of totals: "N passed, N failed".
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
process.chdir(root);
const reports = path.join(root, ".data", "test-reports");
fs.mkdirSync(reports, { recursive: true });
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
const only = process.argv[2]; // "unit", "e2e" or "faults" to run one part

let passed = 0;
let failed = 0;
let skipped = 0;
let crashed = false;

const startedAt = Date.now();
/** Minutes and seconds since `npm test` started, printed before each step (CI keeps its time in view). */
const elapsed = () => {
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
};

function run(command, args, extraEnv = {}) {
  console.log(`\n$ ${command} ${args.join(" ")}    [${elapsed()}]`);
  const result = spawnSync(command, args, { stdio: "inherit", env: { ...env, ...extraEnv } });
  return result.status ?? 1;
}

/** Runs Vitest with a JSON report and adds its counts to the totals. */
function runVitest(args, reportName) {
  const out = path.join(reports, reportName);
  fs.rmSync(out, { force: true });
  const status = run("npx", [
    "vitest",
    "run",
    ...args,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${out}`,
  ]);
  const report = readJson(out);
  if (report) {
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
  if (status !== 0 && (!report || report.numFailedTests === 0)) crashed = true;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

if (!only || only === "unit") runVitest([], "vitest.json");

if (!only || only === "e2e") {
  const chromium = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  if (!fs.existsSync(chromium)) {
    console.error(
      `\nEnd-to-end tests need Chromium at ${chromium}: install it (apt-get install -y chromium) or set CHROMIUM_PATH.`,
    );
    crashed = true;
  } else {
    const buildStatus = run("npx", ["next", "build"]);
    if (buildStatus !== 0) {
      console.error("next build failed: end-to-end tests not run");
      crashed = true;
    } else {
      const out = path.join(reports, "playwright.json");
      fs.rmSync(out, { force: true });
      const status = run("npx", ["playwright", "test", "--reporter=list,json"], {
        PLAYWRIGHT_JSON_OUTPUT_NAME: out,
      });
      const report = readJson(out);
      if (report?.stats) {
        passed += (report.stats.expected ?? 0) + (report.stats.flaky ?? 0);
        failed += report.stats.unexpected ?? 0;
        skipped += report.stats.skipped ?? 0;
      }
      if (status !== 0 && (!report?.stats || report.stats.unexpected === 0)) crashed = true;
    }
  }
}

// The fault tests (crash, database outage, lock contention) need PostgreSQL and the production build
// made above; CI runs them (CREDITKIT_RUN_FAULTS=1), and `npm run test:faults` runs them alone.
if (only === "faults" || (!only && process.env.CREDITKIT_RUN_FAULTS === "1")) {
  runVitest(["--config", "vitest.faults.config.mts"], "faults.json");
}

if (crashed) failed += 1;
console.log(`\n[npm test took ${elapsed()}]`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);

// Compiles the TypeScript that runs outside Next.js's build into plain JavaScript under dist/, so no
// TypeScript loader runs in production: `npm start`'s check before it serves (src/config/preflight.ts) and
// the operators' CLI (scripts/credits.ts, `npm run credits`). esbuild bundles our sources and leaves the
// packages in node_modules to Node.js. scripts/start.mjs and scripts/credits.mjs call it when a source is
// newer than the output (about a second).
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");

/** Each tool: its entry (TypeScript) → its output (dist/<name>.cjs, CommonJS for Node.js 20). */
export const TOOLS = { preflight: "src/config/preflight.ts", credits: "scripts/credits.ts" };

/** Where a tool's compiled output is. */
export function toolPath(name) {
  return path.join(root, "dist", `${name}.cjs`);
}

/** Compiles the named tools (all by default). */
export async function compileTools(names = Object.keys(TOOLS)) {
  // Written beside and renamed into place: a process starting meanwhile runs the old file or the new one,
  // never half of one.
  const staging = path.join(root, "dist", `.staging-${process.pid}`);
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(names.map((name) => [name, TOOLS[name]])),
    outdir: staging,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    platform: "node",
    // CommonJS: the packages in node_modules are loaded as Node.js would require them.
    format: "cjs",
    target: "node20",
    packages: "external",
    alias: { "@": path.join(root, "src") },
    logLevel: "warning",
  });
  for (const name of names) fs.renameSync(path.join(staging, `${name}.cjs`), toolPath(name));
  fs.rmSync(staging, { recursive: true, force: true });
}

/** The newest modification time (ms) of the files at or below `targets` (paths under the checkout). */
export function newestModification(targets) {
  let newest = 0;
  const visit = (target) => {
    if (!fs.existsSync(target)) return;
    const stat = fs.statSync(target);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(path.join(target, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const target of targets) visit(path.join(root, target));
  return newest;
}

/** Whether a named tool's output is missing or older than a file under src/ or scripts/, or package-lock.json. */
export function toolsAreStale(names = Object.keys(TOOLS)) {
  const newest = newestModification(["src", "scripts", "package-lock.json"]);
  return names.some((name) => {
    const file = toolPath(name);
    return !fs.existsSync(file) || fs.statSync(file).mtimeMs < newest;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await compileTools();

// Compiles the TypeScript that runs outside Next.js's build into plain JavaScript under dist/, so no
// TypeScript loader runs in production: `npm start`'s check before it serves (src/config/preflight.ts) and
// the operators' CLI (scripts/credits.ts, `npm run credits`). esbuild bundles our sources and leaves the
// packages in node_modules to Node.js. scripts/start.mjs and scripts/credits.mjs call it when a source is
// newer than the output (about a second).
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");

/** Entry (TypeScript) → output (dist/, CommonJS for Node.js 20). */
export const TOOLS = {
  "src/config/preflight.ts": "dist/preflight.cjs",
  "scripts/credits.ts": "dist/credits.cjs",
};

export async function compileTools() {
  // Written beside and renamed into place: a process starting meanwhile runs the old file or the new one,
  // never half of one.
  const staging = path.join(root, "dist", `.staging-${process.pid}`);
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(
      Object.entries(TOOLS).map(([entry, out]) => [path.basename(out, ".cjs"), entry]),
    ),
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
  for (const out of Object.values(TOOLS))
    fs.renameSync(path.join(staging, path.basename(out)), path.join(root, out));
  fs.rmSync(staging, { recursive: true, force: true });
}

/** Whether any output is missing or older than a file under src/ or scripts/, or package-lock.json. */
export function toolsAreStale() {
  let newest = 0;
  const visit = (target) => {
    if (!fs.existsSync(target)) return;
    const stat = fs.statSync(target);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(path.join(target, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const target of ["src", "scripts", "package-lock.json"]) visit(path.join(root, target));
  return Object.values(TOOLS).some((out) => {
    const file = path.join(root, out);
    return !fs.existsSync(file) || fs.statSync(file).mtimeMs < newest;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await compileTools();

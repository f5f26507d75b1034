// Compiles the TypeScript that runs outside Next.js's build into plain JavaScript under dist/, so no
// TypeScript loader runs in production: the start-up check of `npm start` (src/config/preflight.ts).
// esbuild bundles our sources and leaves the packages in node_modules to Node.js. Called by scripts/start.mjs
// when a source is newer than the output (about a second).
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");

/** Entry (TypeScript, under src/) → output (dist/, CommonJS for Node.js 20). */
export const TOOLS = { "src/config/preflight.ts": "dist/preflight.cjs" };

export async function compileTools() {
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(
      Object.entries(TOOLS).map(([entry, out]) => [out.replace(/^dist\//, "").replace(/\.cjs$/, ""), entry]),
    ),
    outdir: path.join(root, "dist"),
    outExtension: { ".js": ".cjs" },
    bundle: true,
    platform: "node",
    // CommonJS: the packages in node_modules are imported as Node.js would require them.
    format: "cjs",
    target: "node20",
    packages: "external",
    alias: { "@": path.join(root, "src") },
    logLevel: "warning",
  });
}

/** Whether any output is missing or older than a file under src/ or package-lock.json. */
export function toolsAreStale() {
  let newest = 0;
  const visit = (target) => {
    if (!fs.existsSync(target)) return;
    const stat = fs.statSync(target);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(target)) visit(path.join(target, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  visit(path.join(root, "src"));
  visit(path.join(root, "package-lock.json"));
  return Object.values(TOOLS).some((out) => {
    const file = path.join(root, out);
    return !fs.existsSync(file) || fs.statSync(file).mtimeMs < newest;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await compileTools();
